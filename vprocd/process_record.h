// What the daemon knows about one registered vpid (process or thread).
// The shared table holds the same facts for readers; this adds what only the
// daemon needs (the pidfd).
#pragma once

#include <cstdint>

#include "pid_types.h"
#include "shared_table.h"

namespace vproc::daemon {

struct ProcessRecord {
  VPid vpid;
  RealPid real;
  uint32_t parent = 0;       // parent's vpid, or its real pid when not under vproc
  uint32_t uid = 0;          // real uid at registration
  uint64_t start_ticks = 0;  // 0 when registered after it was already reaped
  RecordState state = RecordState::Alive;
  bool thread = false;
  VPid tgid;                 // a thread's process; a process's own vpid
  int pidfd = -1;            // open while Alive or Zombie (signals, exit notification)
  int ckpt_signal = -1;      // from its Hello (0: disabled); -1: not told, the default applies
  // Migration (docs/cluster.md). A record of this node's vpid whose process
  // migrated away keeps its shadow's real pid and says where the process runs
  // (location: node index, -1 here). A guest is another node's vpid running here.
  // `real` is the local process that stands for the vpid: the process itself
  // while it runs here (also after it came back), its shadow while it is away.
  int location = -1;
  RealPid shadow;            // a migrated process's shadow (its original pid), if known
  uint64_t shadow_start = 0;
  bool guest = false;
  uint64_t migration = 0;    // the migration that brought a guest here / moved the process last

  bool live() const { return state == RecordState::Alive || state == RecordState::Zombie; }
  // Runs here as a restored guest: another node's vpid, or ours back from
  // another node (its shadow stays). Its kernel parent is its keeper, not `parent`.
  bool runs_as_guest() const { return guest || (shadow && real != shadow && location < 0); }
};

}  // namespace vproc::daemon
