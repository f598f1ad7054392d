// The process table's checkpoint/restore side (process_table_restore.cc):
// Restored, and the checkpoint signal a Hello tells.
#include "checkpoint_service.h"
#include "daemon_test_support.h"

using namespace vproc;
using namespace vproc::daemon;
using namespace vproc::daemon::test;

TEST_CASE("checkpoint: Restored gives a vpid to the restoring process", "[checkpoint]") {
  DaemonState d;
  VPid self = d.hello(self_peer());
  Child c;
  Peer pc = peer_of(c.pid());
  auto restored = [&](const Peer& p, uint32_t vpid, uint32_t real) {
    return d.table->restored(p, wire::Restored{vpid, self.value, real});
  };
  VPid fresh = make_vpid(0, 5000);
  CHECK(restored(pc, fresh.value, uint32_t(getpid())).err == EPERM);  // only itself
  Status s = restored(pc, make_vpid(1, 5).value, c.real().value);
  CHECK(s.err == EINVAL);
  CHECK(s.message.find("belongs to node 1") != std::string::npos);
  s = restored(pc, self.value, c.real().value);
  CHECK(s.err == EEXIST);
  CHECK(s.message == "vpid " + std::to_string(self.value) + " is still running (real pid " +
                         std::to_string(getpid()) + "); end it before restoring (vproc kill -KILL " +
                         std::to_string(self.value) + ")");

  REQUIRE(restored(pc, fresh.value, c.real().value).ok());
  const ProcessRecord* rec = d.table->find(fresh);
  REQUIRE(rec);
  CHECK(rec->real == c.real());
  CHECK(rec->parent == self.value);
  CHECK(rec->state == RecordState::Alive);
  CHECK(d.watch.watched.count(fresh.value));  // its exit is watched
  CHECK(d.view().vpid_of(c.real()) == fresh);
  CHECK(restored(pc, fresh.value, c.real().value).ok());  // said twice

  // The vpid of a process that has exited (a zombie here) can be taken over.
  Child gone, heir;
  VPid old = d.hello(peer_of(gone.pid()));
  gone.exit_with(0);
  gone.await_zombie();
  d.table->on_exit(old);
  REQUIRE(restored(peer_of(heir.pid()), old.value, heir.real().value).ok());
  CHECK(d.table->find(old)->real == heir.real());

  // A vpid reserved in a running process's lease is not free.
  wire::Lease lease;
  Child leaser, other;
  VPid holder = d.hello(peer_of(leaser.pid()), &lease);
  s = restored(peer_of(other.pid()), lease.first, other.real().value);
  CHECK(s.err == EEXIST);
  CHECK(s.message.find("reserved for a child of vpid " + std::to_string(holder.value)) != std::string::npos);
}

TEST_CASE("checkpoint: the signal a Hello told; children inherit it; a restarted daemon keeps it",
          "[checkpoint]") {
  DaemonState d;
  wire::HelloOk ok;
  REQUIRE(d.table->hello(self_peer(), wire::Hello{wire::kProtocolVersion, 0, 1, 50}, ok).ok());
  VPid v{ok.vpid};
  Child kid;  // a child this process forked
  VPid k{ok.lease.first};
  REQUIRE(d.table->spawned(self_peer(), wire::Spawned{k.value, kid.real().value, v.value, false}).ok());
  CHECK(d.table->find(k)->ckpt_signal == 50);
  // A re-registration that does not say keeps what was told.
  REQUIRE(d.table->hello(self_peer(), wire::Hello{wire::kProtocolVersion, 0, 1, 0}, ok).ok());
  CHECK(d.table->find(v)->ckpt_signal == 50);
  Child silent;
  VPid s = d.hello(peer_of(silent.pid()));  // a new registration told 0: disabled
  CHECK(d.table->find(s)->ckpt_signal == 0);
  CHECK(CheckpointService::signal_of(*d.table->find(s)) == 0);
  ProcessRecord unknown;
  CHECK(CheckpointService::signal_of(unknown) == 62);  // never told: libvproc's default

  d.restart();
  REQUIRE(d.table->find(v));
  CHECK(d.table->find(v)->ckpt_signal == 50);
  CHECK(d.table->find(k)->ckpt_signal == 50);
  CHECK(d.table->find(s)->ckpt_signal == 0);
}
