// POSIX timers whose signal goes to one thread: timer_create with
// SIGEV_THREAD_ID names the thread by its tid (sigev_notify_thread_id), which
// the program knows as a vtid. The kernel requires a thread of the caller's own
// process there and answers EINVAL for anything else.
//
// glibc's own SIGEV_THREAD timers use SIGEV_THREAD_ID internally, with the
// real tid of its helper thread, inside libc: they never reach this wrapper.
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#include "libc_boundary.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "state.h"
#include "sys_entry.h"
#include "translate.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(timer_create);

namespace {

// The tid field of struct sigevent (glibc 2.36 has no sigev_notify_thread_id).
pid_t& notify_tid(struct sigevent& ev) { return ev._sigev_un._tid; }

// `*copy` = `*ev` with its vtid made real, when it names a thread; returns the
// event to hand to the kernel, or nullptr with *err = -EINVAL (no such thread
// here: what the kernel says for a tid outside the process).
const struct sigevent* real_event(const struct sigevent* ev, struct sigevent* copy, int* err) {
  *err = 0;
  if (!ev || ev->sigev_notify != SIGEV_THREAD_ID) return ev;
  *copy = *ev;
  pid_t tid = notify_tid(*copy);
  if (tid <= 0) return ev;  // the kernel's EINVAL
  long real = to_real_tid(tid);
  if (real < 0) {
    *err = -EINVAL;
    return nullptr;
  }
  notify_tid(*copy) = pid_t(real);
  return copy;
}

}  // namespace

VPROC_EXPORT int timer_create(clockid_t clock, struct sigevent* ev, timer_t* timer) noexcept {
  if (!active()) return real_timer_create(clock, ev, timer);
  struct sigevent copy;
  int err;
  const struct sigevent* kev = real_event(ev, &copy, &err);
  if (err) return fail_errno(err);
  return real_timer_create(clock, const_cast<struct sigevent*>(kev), timer);
}

namespace vproc::lib::sys {

long timer_create(clockid_t clock, const struct sigevent* ev, int* kernel_timer_id) {
  struct sigevent copy;
  int err;
  const struct sigevent* kev = real_event(ev, &copy, &err);
  if (err) return err;
  return raw::sys(SYS_timer_create, clock, kev, kernel_timer_id);
}

}  // namespace vproc::lib::sys
