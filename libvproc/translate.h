// PID translation between what the program sees (virtual) and what the kernel
// uses (real). Async-signal-safe. Numbers below 2^22 are real PIDs of processes
// outside vproc (or 0/-1 sentinels) and pass through unchanged in both directions.
#pragma once

#include <sys/types.h>

namespace vproc::lib {

// A pid argument (> 0) as the program gave it -> the kernel's pid.
// Returns -ESRCH for a vpid nobody uses, -EREMOTE for one running on another node.
long to_real_pid(pid_t pid);
// The same for a process group or session id (accepts a group whose leader was
// reaped while the group lives on).
long to_real_pgid(pid_t pgid);
// The same for a thread id (vtid).
long to_real_tid(pid_t tid);

// Kernel pid -> what the program should see (its vpid, or itself if not ours).
// A guest's keeper (its kernel parent) is shown as its parent: a vpid, a real
// pid on its home node, or 0.
pid_t to_virtual_pid(pid_t real);
pid_t to_virtual_pgid(pid_t real);
pid_t to_virtual_tid(pid_t real);

// Helpers for the common "pid argument" shapes of kill/waitpid/setpgid:
//   > 0  a process; 0, -1 unchanged; < -1 a process group.
// Returns the translated value, or -ESRCH-style errors as a negative errno
// in *err (0 on success).
pid_t to_real_pid_or_group(pid_t pid, int* err);

}  // namespace vproc::lib
