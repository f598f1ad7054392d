// The sender's pid in signal information (siginfo_t, struct signalfd_siginfo),
// turned into the vpid the program knows the sender by.
//
// Whether si_pid holds a pid depends on the code: the kernel fills it for
// signals sent by a process (kill, sigqueue, tkill/tgkill, POSIX message queue
// notification) and for SIGCHLD (the child). For faults (SIGSEGV, SIGBUS, ...)
// the same bytes are si_addr, for timers si_tid/overrun, for SIGIO si_band: they
// must not be touched.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>

namespace vproc::lib {

// True when a signal `signo` with si_code `code` carries the sender's pid.
constexpr bool siginfo_has_pid(int signo, int code) {
  switch (code) {
    case SI_USER:   // kill, raise
    case SI_QUEUE:  // sigqueue, rt_sigqueueinfo
    case SI_TKILL:  // tkill, tgkill
    case SI_MESGQ:  // mq_notify: the process that sent the message
    // glibc's aio and getaddrinfo_a notifications: queued like sigqueue, with
    // the notifying process's pid.
    case SI_ASYNCIO:
    case SI_ASYNCNL:
      return true;
    default:
      return signo == SIGCHLD && code >= CLD_EXITED && code <= CLD_CONTINUED;
  }
}

// Rewrites si_pid to the program's view, if this siginfo carries one.
// Async-signal-safe; keeps errno.
void siginfo_pid_to_virtual(siginfo_t* info);

// The same for each record read from a signalfd.
void signalfd_pid_to_virtual(struct signalfd_siginfo* info);

// The opposite, for a siginfo a program hands to the kernel (rt_sigqueueinfo
// and friends): a vpid in si_pid becomes the real pid a receiver outside vproc
// would expect. Unknown vpids stay as they are.
void siginfo_pid_to_real(siginfo_t* info);

}  // namespace vproc::lib
