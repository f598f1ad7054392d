// Waiting for a signal synchronously: sigwaitinfo and sigtimedwait report the
// sender in a siginfo_t, whose si_pid becomes the sender's vpid.
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>

#include "libc_boundary.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "siginfo_pid.h"
#include "state.h"
#include "sys_entry.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(sigwaitinfo);
VPROC_REAL(sigtimedwait);

VPROC_EXPORT int sigwaitinfo(const sigset_t* set, siginfo_t* info) noexcept {
  int r = real_sigwaitinfo(set, info);
  if (r > 0 && info && active()) siginfo_pid_to_virtual(info);
  return r;
}

VPROC_EXPORT int sigtimedwait(const sigset_t* set, siginfo_t* info,
                              const struct timespec* timeout) noexcept {
  int r = real_sigtimedwait(set, info, timeout);
  if (r > 0 && info && active()) siginfo_pid_to_virtual(info);
  return r;
}

namespace vproc::lib::sys {

long rt_sigtimedwait(const void* set, siginfo_t* info, const void* timeout, size_t sigsetsize) {
  long r = raw::sys(SYS_rt_sigtimedwait, set, info, timeout, sigsetsize);
  if (r > 0 && info && active()) siginfo_pid_to_virtual(info);
  return r;
}

}  // namespace vproc::lib::sys
