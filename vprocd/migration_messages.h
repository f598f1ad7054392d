// What the daemons of a migration tell each other over their control links
// (docs/cluster.md, "Migration"). Plain values here; common/peer.capnp carries
// them (peer_migration_wire.cc).
#pragma once

#include <cstdint>
#include <string>

namespace vproc::daemon {

// Any node -> the node the process runs on: move it to `target`.
struct MigrateOut {
  uint32_t vpid = 0;
  uint32_t target = 0;  // node index
  uint32_t uid = 0;     // the requester's real and effective uid: root or the owner may
  uint32_t euid = 0;
  uint32_t flags = 0;   // MigrateRequest flags (2: embed files)
};

// The source's answer when the migration has ended either way.
struct MigrateOutcome {
  int32_t err = 0;      // 0: the process runs on `to`
  std::string message;
  uint32_t from = 0, to = 0;
  uint64_t image_bytes = 0, frozen_ns = 0, total_ns = 0;
};

// Target -> source: the guest is restored and waits for the decision (err 0),
// or the restore failed.
struct ReadyMsg {
  uint64_t migration = 0;
  uint32_t vpid = 0;
  uint32_t real = 0;    // the guest's real pid on the target
  int32_t err = 0;
  std::string message;
};

// The source's decision on a migration (the answer to Ready and MigrationStatus).
enum class Decision : uint8_t { Commit = 1, Abort = 2, Pending = 3, Unknown = 4 };

// Source -> home (when they differ): the process now runs on `node`.
struct RelocatedMsg {
  uint32_t vpid = 0;
  uint32_t node = 0;
  uint32_t real = 0;
  uint64_t migration = 0;
};

// The guest's node -> home: its wait status changed (kind as wire::GuestChange).
struct GuestChangedMsg {
  uint32_t vpid = 0;
  uint8_t kind = 0;
  int32_t status = 0;
  uint64_t migration = 0;
  bool retried = false;  // the sender's: not sent
};

}  // namespace vproc::daemon
