// Waiting for a signal synchronously: sigwaitinfo and sigtimedwait report the
// sender in a siginfo_t, whose si_pid becomes the sender's vpid. A set with
// the checkpoint signal is waited for in ckpt_sigwait.cc (where that signal is
// blocked, so no checkpoint interrupts the wait). Other waits go on after a
// checkpoint instead of failing with EINTR (ckpt_restart.h).
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>

#include "ckpt_restart.h"
#include "ckpt_signal_guard.h"
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
VPROC_REAL(sigwait);

VPROC_EXPORT int sigwait(const sigset_t* set, int* sig) noexcept {
  if (!has_ckpt_signal(set)) return real_sigwait(set, sig);
  int saved_errno = errno, r;
  do r = ckpt_sigtimedwait(set, nullptr, nullptr);  // glibc's sigwait goes on after EINTR too
  while (r < 0 && errno == EINTR);
  int err = r < 0 ? errno : 0;
  errno = saved_errno;
  if (r > 0) *sig = r;
  return err;
}

VPROC_EXPORT int sigwaitinfo(const sigset_t* set, siginfo_t* info) noexcept {
  int r = has_ckpt_signal(set) ? ckpt_sigtimedwait(set, info, nullptr)
                               : restart_libc([&] { return real_sigwaitinfo(set, info); });
  if (r > 0 && info && active()) siginfo_pid_to_virtual(info);
  return r;
}

VPROC_EXPORT int sigtimedwait(const sigset_t* set, siginfo_t* info,
                              const struct timespec* timeout) noexcept {
  int r;
  if (has_ckpt_signal(set)) {
    r = ckpt_sigtimedwait(set, info, timeout);
  } else {
    CkptTimeout left(timeout);
    r = restart_libc(left, [&] { return real_sigtimedwait(set, info, left.ts()); });
  }
  if (r > 0 && info && active()) siginfo_pid_to_virtual(info);
  return r;
}

namespace vproc::lib::sys {

long rt_sigtimedwait(const void* set, siginfo_t* info, const void* timeout, size_t sigsetsize) {
  auto* set64 = static_cast<const uint64_t*>(set);
  auto* ts = static_cast<const struct timespec*>(timeout);
  long r;
  if (set64 && sigsetsize == sizeof *set64 && has_ckpt_signal(*set64)) {
    r = ckpt_rt_sigtimedwait(set64, info, ts);
  } else {
    CkptTimeout left(ts);
    r = restart_sys(left, [&] { return raw::sys(SYS_rt_sigtimedwait, set, info, left.ts(), sigsetsize); });
  }
  if (r > 0 && info && active()) siginfo_pid_to_virtual(info);
  return r;
}

}  // namespace vproc::lib::sys
