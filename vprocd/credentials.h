// Who is on the other end of a connection, and what it may do.
//
// The kernel tells a Unix socket server its peer (SO_PEERCRED: pid, effective
// uid and gid at connect time). The pid alone could be reused, so the daemon
// also remembers the peer's start time and re-checks it before trusting /proc.
#pragma once

#include <cstdint>

#include "pid_types.h"
#include "proc_stat.h"
#include "status.h"

namespace vproc::daemon {

struct Peer {
  RealPid pid;               // the connecting process (its tgid)
  uint32_t uid = 0, gid = 0; // effective ids at connect
  uint64_t start_ticks = 0;  // 0 when the peer had already exited at accept
};

// SO_PEERCRED of a connected Unix socket, plus the peer's start time.
Status peer_of_socket(int fd, Peer& out);

// The peer's real and effective uid now (from /proc/<pid>/status when it is
// still the same process), else the SO_PEERCRED uid for both.
ProcUids caller_uids(const Peer& peer);

// kill(2)'s permission rule: root may signal anyone; otherwise the caller's real
// or effective uid must equal the target's real or saved uid.
bool may_signal(const ProcUids& caller, const ProcUids& target);

// Who may have a process checkpointed (its whole memory written to a file):
// root, or a caller whose real or effective uid is the target's real,
// effective and saved uid alike (ptrace's rule, without capabilities).
bool may_checkpoint(const ProcUids& caller, const ProcUids& target);

}  // namespace vproc::daemon
