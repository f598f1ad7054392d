// Signal{target, signo} from a client: kill(2) by vpid, checked like kill(2).
//
// The daemon may be root, so it must apply the caller's permissions itself:
// the kernel would let the daemon signal anything.
#pragma once

#include <cstdint>

#include "credentials.h"
#include "process_table.h"
#include "status.h"

namespace vproc::daemon {

// target > 0: the process (or thread) with that vpid; target < 0: the process
// group led by vpid -target (the leader may have exited: its group lives on).
// signo 0 checks existence and permission only.
// Errors: EINVAL (bad signal or target), ESRCH (no such vpid / empty group),
// EPERM (the caller may signal none of the targets).
Status deliver_signal(const ProcessTable& table, const Peer& caller, int64_t target, int signo);
// The same for a caller whose uids are known otherwise (a request forwarded
// from another node carries its caller's real and effective uid).
Status deliver_signal(const ProcessTable& table, const ProcUids& caller, int64_t target, int signo);

// Queues `signo` to the process of `rec` like sigqueue(3) (si_code SI_QUEUE,
// si_pid/si_uid the daemon's, si_value = `value`), through a pidfd checked
// against the record's start time. The caller has checked permission.
// Errors: ESRCH (gone), or what the kernel said.
Status queue_signal(const ProcessRecord& rec, int signo, uint64_t value);

}  // namespace vproc::daemon
