// vprocd's process table: registration, leases, exits, reaping, sweeping and
// re-adoption, driven with real child processes and without a socket.
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <atomic>

#include "daemon_test_support.h"
#include "process_list.h"

using namespace vproc;
using namespace vproc::daemon;
using namespace vproc::daemon::test;

namespace {

// Registers `child` (forked by this process) under the next vpid of `lease`.
VPid spawn(DaemonState& d, const Peer& me, VPid parent, wire::Lease& lease, const Child& child) {
  REQUIRE(lease.count > 0);
  VPid v{lease.first};
  ++lease.first;
  --lease.count;
  Status s = d.table->spawned(me, wire::Spawned{v.value, child.real().value, parent.value, false});
  INFO(s.message);
  REQUIRE(s.ok());
  return v;
}

}  // namespace

TEST_CASE("process table: Hello registers the caller and grants a lease", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid v = d.hello(me, &lease, 777);
  CHECK(valid_vpid(v.value));
  CHECK(home_node_of(v) == 0);

  Resolved r = d.view().resolve(v);
  CHECK(r.real == me.pid);
  CHECK(r.state == RecordState::Alive);
  CHECK(d.view().vpid_of(me.pid) == v);
  const Record& rec = d.view().record(serial_of(v));
  CHECK(rec.parent == 777);
  CHECK(rec.start_ticks == me.start_ticks);
  CHECK(rec.tgid == v.value);
  CHECK(d.watch.watched.count(v.value) == 1);  // its exit is watched

  CHECK(lease.count == ProcessTable::kInitialLease);
  CHECK(lease.first != v.value);
  for (uint32_t i = 0; i < lease.count; ++i) {
    CHECK(d.table->leases().holder_of(VPid{lease.first + i}) == v);
    CHECK(d.writer->serial_taken(serial_of(VPid{lease.first + i})));
  }
  CHECK(d.table->registered_vpid(me) == v);
  CHECK(d.table->live_processes() == 1);

  // Hello{0} again (a raw exec: same process): same vpid, a fresh lease.
  wire::Lease lease2;
  CHECK(d.hello(me, &lease2) == v);
  CHECK(lease2.first >= lease.first + lease.count);
  CHECK(d.table->live_processes() == 1);
}

TEST_CASE("process table: Hello errors", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::HelloOk ok;

  Status s = d.table->hello(me, wire::Hello{wire::kProtocolVersion + 1, 0, 1}, ok);
  CHECK(s.err == EPROTO);
  CHECK(s.message == "protocol version mismatch: client " + std::to_string(wire::kProtocolVersion + 1) +
                         ", daemon " + std::to_string(wire::kProtocolVersion));

  s = d.table->hello(me, wire::Hello{wire::kProtocolVersion, make_vpid(3, 5).value, 1}, ok);
  CHECK(s.err == EINVAL);  // another node's vpid
  s = d.table->hello(me, wire::Hello{wire::kProtocolVersion, 1234, 1}, ok);
  CHECK(s.err == EINVAL);  // not a vpid at all

  Peer ghost = me;
  ghost.start_ticks = 0;  // the peer had exited at accept
  CHECK(d.table->hello(ghost, wire::Hello{wire::kProtocolVersion, 0, 1}, ok).err == ESRCH);
  CHECK(d.table->live_processes() == 0);
}

TEST_CASE("process table: Hello with a vpid re-registers, and refuses a vpid in use", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  VPid v = d.hello(me);
  wire::HelloOk ok;
  // The same process again (daemon restarted, or exec): accepted.
  REQUIRE(d.table->hello(me, wire::Hello{wire::kProtocolVersion, v.value, 1}, ok).ok());
  CHECK(ok.vpid == v.value);

  // Another process claiming it: refused.
  Child other;
  Status s = d.table->hello(peer_of(other.pid()), wire::Hello{wire::kProtocolVersion, v.value, 1}, ok);
  CHECK(s.err == EEXIST);
  CHECK(s.message.find("in use by real pid") != std::string::npos);

  // A free vpid: taken over by the caller.
  VPid free_v = make_vpid(0, 4000);
  REQUIRE(d.table->hello(peer_of(other.pid()), wire::Hello{wire::kProtocolVersion, free_v.value, v.value}, ok)
              .ok());
  CHECK(d.view().resolve(free_v).real == other.real());
  // ...but a registered process cannot switch to yet another vpid.
  s = d.table->hello(me, wire::Hello{wire::kProtocolVersion, make_vpid(0, 4001).value, 1}, ok);
  CHECK(s.err == EEXIST);
}

TEST_CASE("process table: a guest's Hello says it is a guest, with its record's parent", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::HelloOk ok;
  // A plain process is no guest.
  VPid home = d.hello(me);
  REQUIRE(d.table->hello(me, wire::Hello{wire::kProtocolVersion, 0, 1}, ok).ok());
  CHECK_FALSE(ok.guest);

  // Another node's vpid, restored here; its parent was a real pid on that node.
  Child guest;
  Peer gp = peer_of(guest.pid());
  VPid foreign = make_vpid(2, 9);
  REQUIRE(d.table->add_guest(gp, foreign, 812, 0x77).ok());
  // Its library after a raw exec (no identity passed on): Hello{0}, or with
  // the vpid after a reconnect. The parent it sends (its keeper's) is ignored.
  for (uint32_t hint : {0u, foreign.value}) {
    ok = {};
    REQUIRE(d.table->hello(gp, wire::Hello{wire::kProtocolVersion, hint, uint32_t(getpid())}, ok).ok());
    CHECK(ok.vpid == foreign.value);
    CHECK(ok.guest);
    CHECK(ok.parent == 812);
  }

  // One of ours back from another node (its shadow stays): a guest too.
  REQUIRE(d.table->set_location(home, 1, 0x78).ok());
  Child back;
  Peer bp = peer_of(back.pid());
  REQUIRE(d.table->add_guest(bp, home, 5, 0x79).ok());
  ok = {};
  REQUIRE(d.table->hello(bp, wire::Hello{wire::kProtocolVersion, 0, 1}, ok).ok());
  CHECK(ok.vpid == home.value);
  CHECK(ok.guest);
  CHECK(ok.parent == 1);  // the record's, from the first Hello
  // Gone again: the shadow stands for the vpid, and it is no guest.
  d.table->remove_guest(home);
  ok = {};
  REQUIRE(d.table->hello(me, wire::Hello{wire::kProtocolVersion, home.value, 1}, ok).ok());
  CHECK_FALSE(ok.guest);
}

TEST_CASE("process table: Spawned registers a child under a leased vpid", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease);
  Child c;
  VPid v = spawn(d, me, self, lease, c);

  const ProcessRecord* rec = d.table->find(v);
  REQUIRE(rec);
  CHECK(rec->real == c.real());
  CHECK(rec->parent == self.value);
  CHECK(rec->state == RecordState::Alive);
  // A child process holds no pidfd: its parent reports the reap, the sweep polls.
  CHECK(rec->pidfd == -1);
  CHECK(d.watch.watched.count(v.value) == 0);
  CHECK(d.view().vpid_of(c.real()) == v);
  CHECK(d.table->leases().holder_of(v) == VPid{});  // no longer leased: used
  CHECK(d.table->live_processes() == 2);

  // Re-sent (after a reconnect): a no-op.
  CHECK(d.table->spawned(me, wire::Spawned{v.value, c.pid() + 0u, self.value, false}).ok());
  CHECK(d.table->records().size() == 2);

  SECTION("a vpid that is not leased to the sender") {
    Child c2;
    Status s = d.table->spawned(me, wire::Spawned{make_vpid(0, 3000).value, c2.real().value, self.value, false});
    CHECK(s.err == EPERM);
    CHECK(s.message.find("not leased to the sender") != std::string::npos);
    CHECK(d.view().vpid_of(c2.real()) == VPid{});
  }
  SECTION("a process that is not the sender's child (pid 1: parent 0 like a child being reaped, but it stays)") {
    Status s = d.table->spawned(me, wire::Spawned{lease.first, 1, self.value, false});
    CHECK(s.err == EPERM);
    CHECK(s.message.find("not a child of the sender") != std::string::npos);
    CHECK(d.table->find(VPid{lease.first}) == nullptr);
    CHECK(d.table->leases().holder_of(VPid{lease.first}) == self);  // still leased
  }
  SECTION("a vpid already in use") {
    Child c2;
    Status s = d.table->spawned(me, wire::Spawned{v.value, c2.real().value, self.value, false});
    CHECK(s.err == EEXIST);
  }
  SECTION("from a process that never said Hello") {
    Child stranger;
    Status s = d.table->spawned(peer_of(stranger.pid()), wire::Spawned{lease.first, c.real().value, 1, false});
    CHECK(s.err == EPERM);
  }
  SECTION("nonsense numbers") {
    CHECK(d.table->spawned(me, wire::Spawned{12, c.real().value, 1, false}).err == EINVAL);
    CHECK(d.table->spawned(me, wire::Spawned{lease.first, 0, 1, false}).err == EINVAL);
    CHECK(d.table->spawned(me, wire::Spawned{lease.first, kRealPidLimit, 1, false}).err == EINVAL);
  }
}

TEST_CASE("process table: a child reaped without a Reaped message is retired by the sweep", "[process_table]") {
  // Child processes are not watched through a pidfd (one daemon wake-up less per
  // fork): a child reaped by someone who never tells (auto-reaping, a parent that
  // died first) is found by the sweep's polling.
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease);
  Child c;
  VPid v = spawn(d, me, self, lease, c);

  d.table->sweep();  // alive: untouched
  CHECK(d.table->find(v)->state == RecordState::Alive);

  c.exit_with(5);
  c.await_zombie();
  d.table->sweep();  // a zombie: still a pid for wait()
  CHECK(d.table->find(v)->state == RecordState::Zombie);
  CHECK(d.view().vpid_of(c.real()) == v);

  CHECK(WEXITSTATUS(c.reap()) == 5);  // and nobody sends Reaped
  d.table->sweep();
  const ProcessRecord* rec = d.table->find(v);
  CHECK((rec == nullptr || rec->state == RecordState::Retired));
  CHECK(d.view().vpid_of(c.real()) == VPid{});
  CHECK(d.table->live_processes() == 1);
}

TEST_CASE("process table: exit, Reaped, sweep: Alive -> Zombie -> Retired -> Free", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease);
  Child c;
  VPid v = spawn(d, me, self, lease, c);

  c.exit_with(3);
  c.await_zombie();
  d.table->on_exit(v);
  CHECK(d.table->find(v)->state == RecordState::Zombie);
  CHECK(d.view().resolve(v).state == RecordState::Zombie);
  CHECK(d.view().vpid_of(c.real()) == v);  // still a pid for wait()

  // Reaped before it really was: refused.
  CHECK(d.table->reaped(me, v.value).err == EBUSY);

  int status = c.reap();
  CHECK(WEXITSTATUS(status) == 3);
  REQUIRE(d.table->reaped(me, v.value).ok());
  CHECK(d.table->find(v)->state == RecordState::Retired);
  CHECK(d.table->find(v)->pidfd == -1);
  CHECK(d.view().vpid_of(c.real()) == VPid{});
  CHECK(d.view().vpid_of(c.real(), true) == v);
  CHECK(d.table->live_processes() == 1);

  // It led no group (it stayed in ours): the sweep frees it.
  d.table->sweep();
  CHECK(d.table->find(v) == nullptr);
  CHECK(d.view().resolve(v).state == RecordState::Free);
  CHECK(d.view().vpid_of(c.real(), true) == VPid{});

  CHECK(d.table->reaped(me, v.value).err == ESRCH);
}

TEST_CASE("process table: a reaped group leader stays Retired while its group lives", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease);
  Child leader(Child::Options{0, /*own_group=*/true});
  VPid v = spawn(d, me, self, lease, leader);
  // A second process in the leader's group keeps the group (and so the pid) alive.
  pid_t member = fork();
  REQUIRE(member >= 0);
  if (member == 0) {
    setpgid(0, leader.pid());
    pause();
    _exit(0);
  }
  for (int i = 0; i < 1000 && getpgid(member) != leader.pid(); ++i) usleep(1000);
  REQUIRE(getpgid(member) == leader.pid());

  leader.exit_with(0);
  leader.await_zombie();
  d.table->on_exit(v);
  leader.reap();
  REQUIRE(d.table->reaped(me, v.value).ok());
  d.table->sweep();
  CHECK(d.table->find(v) != nullptr);
  CHECK(d.view().vpid_of(leader.real(), true) == v);

  kill(member, SIGKILL);
  waitpid(member, nullptr, 0);
  d.table->sweep();
  CHECK(d.table->find(v) == nullptr);
}

TEST_CASE("process table: the sweep notices zombies reaped without a Reaped message", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease);
  Child c;
  VPid v = spawn(d, me, self, lease, c);
  c.exit_with(0);
  c.await_zombie();
  d.table->on_exit(v);
  d.table->sweep();
  CHECK(d.table->find(v)->state == RecordState::Zombie);  // not reaped yet: kept
  c.reap();
  d.table->sweep();
  CHECK(d.table->find(v) == nullptr);
}

TEST_CASE("process table: a child reaped before its Spawned arrives is recorded Retired", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease);
  pid_t p = fork();
  if (p == 0) _exit(0);
  REQUIRE(waitpid(p, nullptr, 0) == p);
  VPid v{lease.first};
  REQUIRE(d.table->spawned(me, wire::Spawned{v.value, uint32_t(p), self.value, false}).ok());
  const ProcessRecord* rec = d.table->find(v);
  REQUIRE(rec);
  CHECK(rec->state == RecordState::Retired);
  CHECK(d.table->leases().holder_of(v) == VPid{});
  CHECK(d.table->reaped(me, v.value).ok());  // the parent's Reaped follows: fine
  d.table->sweep();
  CHECK(d.table->find(v) == nullptr);
}

namespace {
std::atomic<pid_t> g_thread_tid{0};
std::atomic<bool> g_thread_stop{false};
void* test_thread(void*) {
  g_thread_tid = pid_t(syscall(SYS_gettid));
  while (!g_thread_stop) usleep(500);
  return nullptr;
}
}  // namespace

TEST_CASE("process table: threads are registered and freed when they exit", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease);
  g_thread_tid = 0;
  g_thread_stop = false;
  pthread_t th;
  REQUIRE(pthread_create(&th, nullptr, test_thread, nullptr) == 0);
  while (!g_thread_tid) usleep(100);
  RealPid tid{uint32_t(g_thread_tid.load())};
  VPid vt{lease.first};

  // The main thread is the process itself, not a thread record.
  CHECK(d.table->spawned(me, wire::Spawned{vt.value, me.pid.value, self.value, true}).err == EINVAL);
  // A pid that is not one of our threads.
  Child c;
  CHECK(d.table->spawned(me, wire::Spawned{vt.value, c.real().value, self.value, true}).err == EPERM);
  CHECK(d.table->find(vt) == nullptr);

  REQUIRE(d.table->spawned(me, wire::Spawned{vt.value, tid.value, self.value, true}).ok());
  const ProcessRecord* rec = d.table->find(vt);
  REQUIRE(rec);
  CHECK(rec->thread);
  CHECK(rec->tgid == self);
  CHECK(rec->pidfd >= 0);
  CHECK(d.view().resolve(vt).thread);
  CHECK(d.view().vpid_of(tid) == vt);
  CHECK(d.table->live_processes() == 1);  // threads are not processes

  auto with_threads = list_processes(*d.table, NodeInfo{0, "unit", 1, boot_time_ms()}, true);
  auto without = list_processes(*d.table, NodeInfo{0, "unit", 1, boot_time_ms()}, false);
  CHECK(with_threads.size() == without.size() + 1);

  g_thread_stop = true;
  pthread_join(th, nullptr);
  d.table->on_exit(vt);
  CHECK(d.table->find(vt) == nullptr);
  CHECK(d.view().resolve(vt).state == RecordState::Free);
  CHECK(d.view().vpid_of(tid) == VPid{});
}

TEST_CASE("process table: Lease requests", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  VPid self = d.hello(me);
  wire::Lease l;
  REQUIRE(d.table->lease(me, 1000, l).ok());
  CHECK(l.count == ProcessTable::kMaxLease);
  REQUIRE(d.table->lease(me, 3, l).ok());
  CHECK(l.count == 3);
  CHECK(d.table->leases().holder_of(VPid{l.first + 2}) == self);
  CHECK(d.table->lease(me, 0, l).err == EINVAL);

  Child stranger;
  Status s = d.table->lease(peer_of(stranger.pid()), 4, l);
  CHECK(s.err == EPERM);
  CHECK(s.message.find("send Hello first") != std::string::npos);

  // A process may not hoard the vpid space.
  Status last;
  for (int i = 0; i < 20 && (last = d.table->lease(me, 256, l)).ok(); ++i) {
  }
  CHECK(last.err == EAGAIN);
}

TEST_CASE("process table: a holder's unused leased vpids return when it exits", "[process_table]") {
  DaemonState d;
  Child holder;
  Peer hp = peer_of(holder.pid());
  wire::Lease lease;
  VPid hv = d.hello(hp, &lease);
  REQUIRE(lease.count == ProcessTable::kInitialLease);
  CHECK(d.writer->serial_taken(serial_of(VPid{lease.first})));
  holder.exit_with(0);
  holder.await_zombie();
  d.table->on_exit(hv);
  CHECK(d.table->leases().held_by(hv) == 0);
  for (uint32_t i = 0; i < lease.count; ++i) CHECK_FALSE(d.writer->serial_taken(serial_of(VPid{lease.first + i})));
}

TEST_CASE("process table: Reaped only from the parent (or root)", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease);
  Child c;
  VPid v = spawn(d, me, self, lease, c);
  Child nobody(Child::Options{65534, false});
  Peer np = peer_of(nobody.pid());
  REQUIRE(np.uid == 65534);
  c.exit_with(0);
  c.await_zombie();
  c.reap();
  Status s = d.table->reaped(np, v.value);
  CHECK(s.err == EPERM);
  CHECK(d.table->find(v)->state == RecordState::Alive);
  CHECK(d.table->reaped(me, make_vpid(0, 9999).value).err == ESRCH);
}

TEST_CASE("process table: a restarted daemon re-adopts processes and their leases", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease);
  Child c;
  VPid v = spawn(d, me, self, lease, c);
  Child gone;
  VPid vg = spawn(d, me, self, lease, gone);
  gone.exit_with(0);
  gone.await_zombie();
  gone.reap();  // dies while the daemon is down

  d.restart();
  CHECK(d.report.origin == AdoptionReport::Origin::Adopted);
  REQUIRE(d.table->find(self));
  REQUIRE(d.table->find(v));
  CHECK(d.table->find(v)->pidfd >= 0);
  CHECK(d.watch.watched.count(v.value) == 1);
  CHECK(d.table->find(vg) == nullptr);
  CHECK(d.view().resolve(vg).state == RecordState::Free);
  CHECK(d.table->registered_vpid(me) == self);
  // The rest of the lease is still ours: the next fork's Spawned is accepted.
  Child c2;
  VPid v2 = spawn(d, me, self, lease, c2);
  CHECK(d.view().vpid_of(c2.real()) == v2);
  // And the re-registration Hello of a running process is accepted.
  wire::HelloOk ok;
  CHECK(d.table->hello(me, wire::Hello{wire::kProtocolVersion, self.value, 1}, ok).ok());
}

TEST_CASE("process table: list shows live processes with /proc facts", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease, 1);
  Child c;
  VPid v = spawn(d, me, self, lease, c);
  c.await_sleeping();
  NodeInfo node{0, "unit", 42, boot_time_ms()};
  REQUIRE(node.boot_time_ms > 0);
  auto list = list_processes(*d.table, node, false);
  REQUIRE(list.size() == 2);
  CHECK(list[0].vpid == self.value);  // ordered by vpid
  CHECK(list[1].vpid == v.value);
  const wire::ProcessEntry& e = list[1];
  CHECK(e.real == c.real().value);
  CHECK(e.parent == self.value);
  CHECK(e.node_name == "unit");
  CHECK(e.state == "sleeping");
  CHECK(e.uid == geteuid());
  CHECK_FALSE(e.argv.empty());
  auto now_ms = uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count());
  CHECK(e.start_time_ms <= now_ms + 1000);
  CHECK(e.start_time_ms + 3600 * 1000 > now_ms);

  c.exit_with(0);
  c.await_zombie();
  d.table->on_exit(v);
  list = list_processes(*d.table, node, false);
  REQUIRE(list.size() == 2);
  CHECK(list[1].state == "zombie");
}

TEST_CASE("process table: a reaped session leader stays Retired while its session lives", "[process_table]") {
  DaemonState d;
  Peer me = self_peer();
  wire::Lease lease;
  VPid self = d.hello(me, &lease);
  // The member outlives its parent: be its reaper, whatever init does here.
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  int pipefd[2];
  REQUIRE(pipe(pipefd) == 0);
  pid_t leader = fork();
  REQUIRE(leader >= 0);
  if (leader == 0) {
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    setsid();  // new session and group, both named by the leader's pid
    pid_t member = fork();
    if (member == 0) {
      setpgid(0, 0);  // leaves the leader's group, stays in its session
      pause();
      _exit(0);
    }
    (void)!write(pipefd[1], &member, sizeof member);
    pause();
    _exit(0);
  }
  pid_t member = 0;
  REQUIRE(read(pipefd[0], &member, sizeof member) == sizeof member);
  close(pipefd[0]);
  close(pipefd[1]);
  for (int i = 0; i < 1000 && getpgid(member) != member; ++i) usleep(1000);
  REQUIRE(getsid(member) == leader);

  VPid vl{lease.first};
  REQUIRE(d.table->spawned(me, wire::Spawned{vl.value, uint32_t(leader), self.value, false}).ok());
  Peer lp = peer_of(leader);
  wire::Lease ll;
  REQUIRE(d.table->lease(lp, 2, ll).ok());
  VPid vm{ll.first};
  Status s = d.table->spawned(lp, wire::Spawned{vm.value, uint32_t(member), vl.value, false});
  INFO(s.message);
  REQUIRE(s.ok());

  kill(leader, SIGKILL);
  REQUIRE(waitpid(leader, nullptr, 0) == leader);
  d.table->on_exit(vl);
  REQUIRE(d.table->reaped(me, vl.value).ok());
  REQUIRE(kill(-leader, 0) != 0);  // its group is gone...
  d.table->sweep();
  REQUIRE(d.table->find(vl) != nullptr);  // ...but its session is not
  CHECK(d.view().vpid_of(RealPid{uint32_t(leader)}, true) == vl);

  kill(member, SIGKILL);  // reparented to us
  REQUIRE(waitpid(member, nullptr, 0) == member);
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  d.table->sweep();
  CHECK(d.table->find(vl) == nullptr);
}
