// Waiting for the checkpoint signal with sigwait() and relatives
// (ckpt_signal_guard.h).
//
// The program may wait for its own instances of the signal. The wait is the
// kernel's, with the signal in the set: rt_sigtimedwait takes the waited
// signals off the queue instead of delivering them, so it may take a
// checkpoint request too; such a request is sent again and let through to the
// handler, and the wait goes on. Instances queued while the program blocked
// the signal are handed out first. For the time between looking at that queue
// and sleeping, the signal is really blocked in this thread (sigtimedwait
// takes blocked signals all the same): an instance queued by another thread
// in that moment wakes this one (wake_waiter) instead of being missed.
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#include "ckpt_signal_guard.h"
#include "libc_boundary.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "state.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(sigtimedwait);

namespace {

int64_t monotonic_ns() {
  struct timespec ts {};
  raw::sys(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The time left of `timeout` (null: none) since `start`; false once it is over.
bool time_left(const struct timespec* timeout, int64_t start, struct timespec& left) {
  int64_t total = int64_t(timeout->tv_sec) * 1000000000 + timeout->tv_nsec;
  int64_t rest = total - (monotonic_ns() - start);
  if (rest < 0) rest = 0;
  left.tv_sec = rest / 1000000000;
  left.tv_nsec = rest % 1000000000;
  return rest > 0;
}

// `wait(info, timeout)` waits with the program's whole set and returns the
// signal or -errno.
template <typename Wait>
long wait_with_ckpt_signal(int sig, siginfo_t* out, const struct timespec* timeout, Wait wait) {
  CkptSignalGuard& g = state().ckpt.guard;
  long pid = raw::sys(SYS_getpid);
  int tid = int(raw::sys(SYS_gettid));
  uint64_t b = sig_bit(sig), before = 0;
  raw::sys(SYS_rt_sigprocmask, SIG_BLOCK, &b, &before, sizeof b);
  g.waiter_tid.store(tid, std::memory_order_seq_cst);
  int64_t start = timeout ? monotonic_ns() : 0;
  struct timespec budget {};
  bool first = true;
  long r;
  for (;;) {
    if (pending_pop(out)) {
      r = sig;
      break;
    }
    struct timespec left {};
    if (timeout && !time_left(timeout, start, left) && !first) {  // the first wait polls at least
      r = -EAGAIN;
      break;
    }
    first = false;
    r = wait(out, timeout ? &left : nullptr);
    if (r == sig && is_wake_signal(out)) continue;
    if (r != sig || !is_ckpt_request(out)) break;  // another signal, the program's own, or none
    siginfo_t again = *out;
    raw::sys(SYS_rt_tgsigqueueinfo, pid, tid, sig, &again);
    // The time the checkpoint takes, or a restore's CLOCK_MONOTONIC, does not
    // count against the timeout (ckpt_restart.h): what is left now is the budget.
    if (timeout) {
      time_left(timeout, start, budget);
      timeout = &budget;
    }
    raw::sys(SYS_rt_sigprocmask, SIG_UNBLOCK, &b, nullptr, sizeof b);  // the checkpoint happens here
    raw::sys(SYS_rt_sigprocmask, SIG_BLOCK, &b, nullptr, sizeof b);
    if (timeout) start = monotonic_ns();
  }
  int expected = tid;
  g.waiter_tid.compare_exchange_strong(expected, 0, std::memory_order_seq_cst);
  if (!(before & b)) raw::sys(SYS_rt_sigprocmask, SIG_UNBLOCK, &b, nullptr, sizeof b);
  return r;
}

}  // namespace

namespace vproc::lib {

// Through glibc's sigtimedwait: a cancellation point, and SIGCANCEL stays out of the set.
int ckpt_sigtimedwait(const sigset_t* set, siginfo_t* info, const struct timespec* timeout) {
  siginfo_t si{};
  long r = wait_with_ckpt_signal(ckpt_signal(), &si, timeout, [&](siginfo_t* out, const struct timespec* t) {
    int n = real_sigtimedwait(set, out, t);
    return n < 0 ? -long(errno) : long(n);
  });
  if (r < 0) return fail_errno(int(r));
  if (si.si_code == SI_TKILL) si.si_code = SI_USER;  // as glibc reports a queued instance
  if (info) *info = si;
  return int(r);
}

long ckpt_rt_sigtimedwait(const uint64_t* set, siginfo_t* info, const struct timespec* timeout) {
  siginfo_t si{};
  long r = wait_with_ckpt_signal(ckpt_signal(), &si, timeout, [&](siginfo_t* out, const struct timespec* t) {
    return raw::sys(SYS_rt_sigtimedwait, set, out, t, sizeof *set);
  });
  if (r > 0 && info) *info = si;
  return r;
}

}  // namespace vproc::lib
