// pidfds: a file descriptor that names one process (or thread) for good.
//
// The daemon keeps one per registered process and thread. It becomes readable
// when the process exits (a process pidfd: when the whole thread group is gone
// and the leader is a zombie; a PIDFD_THREAD pidfd: when that thread exits), which
// is how the daemon learns of exits inside its one event loop. Signals go through
// it too, so a signal can never reach a newer process that reused the pid.
#pragma once

#include <signal.h>

#include "pid_types.h"

namespace vproc::daemon {

// pidfd_open(2) of a process (thread == false) or of one thread (PIDFD_THREAD,
// Linux >= 6.9). Close-on-exec. Returns the fd or -errno (-ESRCH: gone).
int open_pidfd(RealPid pid, bool thread);

// pidfd_send_signal(2). For a thread pidfd, `thread_group` sends to its whole
// process like kill(2) with a tid does (PIDFD_SIGNAL_THREAD_GROUP). 0 or -errno.
int signal_pidfd(int pidfd, int signo, bool thread_group);

// pidfd_send_signal(2) with a siginfo of our own (si_code SI_QUEUE, as
// sigqueue(3) sends: the receiver gets si_value). 0 or -errno.
int queue_pidfd(int pidfd, const siginfo_t& info);

}  // namespace vproc::daemon
