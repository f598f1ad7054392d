// vprocd's Signal request: kill(2) by vpid with kill(2)'s permission rule.
#include "daemon_test_support.h"
#include "signal_delivery.h"

using namespace vproc;
using namespace vproc::daemon;
using namespace vproc::daemon::test;

TEST_CASE("signals: the permission rule of kill(2)", "[signal]") {
  ProcUids root{0, 0, 0, 0}, alice{1000, 1000, 1000, 1000}, bob{1001, 1001, 1001, 1001};
  CHECK(may_signal(root, alice));
  CHECK(may_signal(alice, alice));
  CHECK_FALSE(may_signal(alice, bob));
  ProcUids setuid_prog{1001, 0, 1000, 0};  // real bob, effective root, saved alice
  CHECK(may_signal(alice, ProcUids{1001, 0, 1000, 0}));  // alice matches the saved uid
  CHECK(may_signal(setuid_prog, bob));                   // effective root
  ProcUids euid_only{1002, 1001, 1002, 1001};
  CHECK(may_signal(euid_only, bob));  // caller's effective == target's real
  CHECK_FALSE(may_signal(bob, ProcUids{2000, 1001, 2000, 1001}));  // target's effective does not count
}

TEST_CASE("signals: delivered by vpid, checked, refused with the right errno", "[signal]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease);
  auto spawn = [&](const Child& c) {
    VPid v{lease.first++};
    --lease.count;
    Status s = d.table->spawned(me, wire::Spawned{v.value, c.real().value, self.value, false});
    INFO(s.message);
    REQUIRE(s.ok());
    return v;
  };
  Child root_child;
  VPid vr = spawn(root_child);
  Child nobody_a(Child::Options{65534, false});
  VPid va = spawn(nobody_a);
  Child nobody_b(Child::Options{65534, false});
  Peer pb = peer_of(nobody_b.pid());

  CHECK(deliver_signal(*d.table, me, vr.value, 0).ok());
  CHECK(deliver_signal(*d.table, me, vr.value, 65).err == EINVAL);
  CHECK(deliver_signal(*d.table, me, vr.value, -1).err == EINVAL);
  Status s = deliver_signal(*d.table, me, make_vpid(0, 4000).value, 0);
  CHECK(s.err == ESRCH);
  CHECK(s.message == "no such vpid " + std::to_string(make_vpid(0, 4000).value));
  CHECK(deliver_signal(*d.table, me, 1234, 0).err == EINVAL);  // a real pid, not a vpid

  // nobody may not signal root's process, but may signal another nobody process.
  CHECK(deliver_signal(*d.table, pb, vr.value, 0).err == EPERM);
  CHECK(deliver_signal(*d.table, pb, vr.value, SIGKILL).err == EPERM);
  REQUIRE(deliver_signal(*d.table, pb, va.value, SIGTERM).ok());
  int st = nobody_a.reap();
  CHECK(WIFSIGNALED(st));
  CHECK(WTERMSIG(st) == SIGTERM);

  // A signal to a zombie succeeds (kill(2) does the same); to a reaped one fails.
  d.table->on_exit(va);
  REQUIRE(d.table->reaped(me, va.value).ok());
  CHECK(deliver_signal(*d.table, me, va.value, 0).err == ESRCH);

  // root's child dies by vpid too.
  REQUIRE(deliver_signal(*d.table, me, vr.value, SIGKILL).ok());
  st = root_child.reap();
  CHECK(WTERMSIG(st) == SIGKILL);
}

TEST_CASE("signals: a negative target signals the group the vpid leads", "[signal]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease);
  Child leader(Child::Options{0, /*own_group=*/true});
  VPid vl{lease.first};
  REQUIRE(d.table->spawned(me, wire::Spawned{vl.value, leader.real().value, self.value, false}).ok());
  Child plain;  // in our group, not the leader's
  VPid vp{lease.first + 1};
  REQUIRE(d.table->spawned(me, wire::Spawned{vp.value, plain.real().value, self.value, false}).ok());

  Child nobody(Child::Options{65534, false});
  CHECK(deliver_signal(*d.table, peer_of(nobody.pid()), -int64_t(vl.value), SIGKILL).err == EPERM);
  // `plain` leads no group.
  CHECK(deliver_signal(*d.table, me, -int64_t(vp.value), 0).err == ESRCH);

  REQUIRE(deliver_signal(*d.table, me, -int64_t(vl.value), SIGKILL).ok());
  int st = leader.reap();
  CHECK(WTERMSIG(st) == SIGKILL);
  CHECK(kill(plain.pid(), 0) == 0);  // untouched

  // An unprivileged caller: each member is checked with the caller's uids.
  Child nobody_leader(Child::Options{65534, /*own_group=*/true});
  VPid vn{lease.first + 2};
  REQUIRE(d.table->spawned(me, wire::Spawned{vn.value, nobody_leader.real().value, self.value, false}).ok());
  REQUIRE(deliver_signal(*d.table, peer_of(nobody.pid()), -int64_t(vn.value), SIGTERM).ok());
  st = nobody_leader.reap();
  CHECK(WTERMSIG(st) == SIGTERM);
}
