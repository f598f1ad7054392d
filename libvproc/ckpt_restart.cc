// Sleeps and timed waits that go on after a checkpoint (ckpt_restart.h).
//
// Here: the count the handler keeps, the timeout arithmetic, and the wrappers
// of the calls nobody else wraps (nanosleep, clock_nanosleep, sleep, usleep,
// poll, select, epoll_wait, pause, sem_timedwait, sem_clockwait, and their
// system calls through syscall()). The calls that also guard a signal mask
// (sigsuspend, ppoll, pselect, epoll_pwait*) restart in ckpt_mask_guard.cc,
// sigtimedwait and sigwaitinfo in signal_wait.cc.
//
// The libc functions are called, not the system calls: they are cancellation
// points. glibc's sleep() and usleep() call nanosleep inside libc, past any
// wrapper, so they are rebuilt here on our nanosleep, as glibc writes them.
#include "ckpt_restart.h"

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <climits>

#include "libc_boundary.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "state.h"
#include "sys_entry.h"
#include "preload_rules.h"

// The fortified poll (glibc's <bits/poll2.h>, only declared with _FORTIFY_SOURCE).
extern "C" int __poll_chk(struct pollfd* fds, nfds_t nfds, int timeout, size_t fdslen) noexcept;

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(nanosleep);
VPROC_REAL(clock_nanosleep);
VPROC_REAL(poll);
VPROC_REAL(__poll_chk);
VPROC_REAL(select);
VPROC_REAL(epoll_wait);
VPROC_REAL(pause);
VPROC_REAL(sem_timedwait);
VPROC_REAL(sem_clockwait);

namespace vproc::lib {

__thread uint32_t t_ckpt_interruptions __attribute__((tls_model("initial-exec"))) = 0;
__thread int64_t t_ckpt_interrupted_ns __attribute__((tls_model("initial-exec"))) = 0;

namespace {

constexpr int64_t kNsPerSec = 1000000000;

// Through libc: the vdso, no system call. Only when a timeout needs it.
int64_t monotonic_ns() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

}  // namespace

void note_ckpt_interruption(const void* ucontext) {
  // The kernel has already decided: a call it restarts has RAX back at its
  // number (RIP on the syscall instruction); one that returns EINTR has -EINTR.
  // With a program's signal delivered in the same return, the frame of the
  // second handler holds RAX 0: the EINTR is that signal's.
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  if (!uc || uc->uc_mcontext.gregs[REG_RAX] != -EINTR) return;
  struct timespec ts {};
  raw::sys(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  t_ckpt_interrupted_ns = int64_t(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
  __atomic_store_n(&t_ckpt_interruptions, t_ckpt_interruptions + 1, __ATOMIC_RELAXED);
}

CkptTimeout::CkptTimeout(const struct timespec* program) : ts_(program) {
  if (!program) return;
  // Invalid values fail the first call with EINVAL, before any checkpoint.
  if (program->tv_sec < 0 || program->tv_nsec < 0 || program->tv_nsec >= kNsPerSec) {
    left_ns_ = 0;
    return;
  }
  int64_t ns = program->tv_sec >= INT64_MAX / kNsPerSec - 1 ? INT64_MAX  // "forever"
                                                             : program->tv_sec * kNsPerSec + program->tv_nsec;
  start(ns);
}

CkptTimeout::CkptTimeout(int program_ms) : ts_(nullptr), ms_(program_ms) {
  if (program_ms >= 0) start(int64_t(program_ms) * 1000000);
}

void CkptTimeout::start(int64_t total_ns) {
  left_ns_ = total_ns;
  // The clock only where a checkpoint can come (event loops call this often).
  if (total_ns > 0 && state().ckpt.signo) start_ns_ = monotonic_ns();
}

void CkptTimeout::after_checkpoint() {
  if (left_ns_ < 0) return;  // no timeout: the same call again
  if (left_ns_ > 0) {
    // Both times come from the process the checkpoint was taken in, even
    // when this one is its restored copy.
    int64_t spent = start_ns_ < 0 ? 0 : t_ckpt_interrupted_ns - start_ns_;
    if (spent < 0) spent = 0;
    left_ns_ = spent >= left_ns_ ? 0 : left_ns_ - spent;
    if (left_ns_ > 0) start_ns_ = monotonic_ns();
  }
  own_.tv_sec = time_t(left_ns_ / kNsPerSec);
  own_.tv_nsec = long(left_ns_ % kNsPerSec);
  ts_ = &own_;
  int64_t ms = left_ns_ / 1000000 + (left_ns_ % 1000000 != 0);  // rounded up: never shorter
  ms_ = ms > INT_MAX ? INT_MAX : int(ms);
}

}  // namespace vproc::lib

namespace {

// A relative sleep that writes the time left into `rem` when interrupted:
// after a checkpoint it goes on with that time. `sleep(req, rem)` returns 0
// or -errno.
template <typename Sleep>
long nanosleep_loop(const struct timespec* req, struct timespec* rem, Sleep sleep) {
  struct timespec own {}, left {};
  struct timespec* out = rem ? rem : &own;
  for (;;) {
    uint32_t before = ckpt_interruptions();
    long r = sleep(req, out);
    if (r != -EINTR || ckpt_interruptions() == before) return r;
    left = *out;  // the next attempt writes `out` again
    req = &left;
  }
}

long libc_nanosleep(const struct timespec* req, struct timespec* rem) {
  return real_nanosleep(req, rem) == 0 ? 0 : -long(errno);
}

long raw_nanosleep(const struct timespec* req, struct timespec* rem) {
  return raw::sys(SYS_nanosleep, req, rem);
}

}  // namespace

VPROC_EXPORT int nanosleep(const struct timespec* req, struct timespec* rem) noexcept {
  int saved_errno = errno;
  long r = nanosleep_loop(req, rem, libc_nanosleep);
  if (r < 0) return fail_errno(int(r));
  errno = saved_errno;
  return 0;
}

// Returns an errno value and leaves errno alone, as glibc's does.
VPROC_EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec* req,
                                 struct timespec* rem) noexcept {
  if (flags & TIMER_ABSTIME) {  // the same deadline again
    for (;;) {
      uint32_t before = ckpt_interruptions();
      int r = real_clock_nanosleep(clock, flags, req, rem);
      if (r != EINTR || ckpt_interruptions() == before) return r;
    }
  }
  return int(-nanosleep_loop(req, rem, [clock, flags](const struct timespec* q, struct timespec* m) {
    return -long(real_clock_nanosleep(clock, flags, q, m));
  }));
}

// glibc's: the whole seconds not slept when a signal cuts it short (errno
// EINTR then), 0 and errno untouched otherwise.
VPROC_EXPORT unsigned int sleep(unsigned int seconds) noexcept {
  int saved_errno = errno;
  struct timespec ts = {time_t(seconds), 0};
  long r = nanosleep_loop(&ts, &ts, libc_nanosleep);
  if (r < 0) {
    errno = int(-r);
    return unsigned(ts.tv_sec);
  }
  errno = saved_errno;
  return 0;
}

VPROC_EXPORT int usleep(useconds_t usec) noexcept {
  int saved_errno = errno;
  struct timespec ts = {time_t(usec / 1000000), long(usec % 1000000) * 1000};
  long r = nanosleep_loop(&ts, nullptr, libc_nanosleep);
  if (r < 0) return fail_errno(int(r));
  errno = saved_errno;
  return 0;
}

VPROC_EXPORT int poll(struct pollfd* fds, nfds_t n, int timeout) noexcept {
  CkptTimeout left(timeout);
  return restart_libc(left, [&] { return real_poll(fds, n, left.ms()); });
}

VPROC_EXPORT int __poll_chk(struct pollfd* fds, nfds_t n, int timeout, size_t fdslen) noexcept {
  CkptTimeout left(timeout);
  return restart_libc(left, [&] { return real___poll_chk(fds, n, left.ms(), fdslen); });
}

// Linux writes the time left into *timeout, on EINTR too: called again with
// it, select goes on where it was.
VPROC_EXPORT int select(int n, fd_set* r, fd_set* w, fd_set* e, struct timeval* timeout) noexcept {
  return restart_libc([&] { return real_select(n, r, w, e, timeout); });
}

VPROC_EXPORT int epoll_wait(int epfd, struct epoll_event* events, int max, int timeout) noexcept {
  CkptTimeout left(timeout);
  return restart_libc(left, [&] { return real_epoll_wait(epfd, events, max, left.ms()); });
}

VPROC_EXPORT int pause(void) noexcept {
  return restart_libc([] { return real_pause(); });
}

// Absolute deadlines: the same call again.
VPROC_EXPORT int sem_timedwait(sem_t* sem, const struct timespec* abstime) noexcept {
  return restart_libc([&] { return real_sem_timedwait(sem, abstime); });
}

VPROC_EXPORT int sem_clockwait(sem_t* sem, clockid_t clock, const struct timespec* abstime) noexcept {
  return restart_libc([&] { return real_sem_clockwait(sem, clock, abstime); });
}

namespace vproc::lib::sys {

long nanosleep(const struct timespec* req, struct timespec* rem) {
  return nanosleep_loop(req, rem, raw_nanosleep);
}

long clock_nanosleep(clockid_t clock, int flags, const struct timespec* req, struct timespec* rem) {
  if (flags & TIMER_ABSTIME)
    return restart_sys([&] { return raw::sys(SYS_clock_nanosleep, clock, flags, req, rem); });
  return nanosleep_loop(req, rem, [clock, flags](const struct timespec* q, struct timespec* m) {
    return raw::sys(SYS_clock_nanosleep, clock, flags, q, m);
  });
}

long poll(struct pollfd* fds, unsigned long n, int timeout_ms) {
  CkptTimeout left(timeout_ms);
  return restart_sys(left, [&] { return raw::sys(SYS_poll, fds, n, left.ms()); });
}

// ppoll, select and pselect6 write the time left back into the program's
// timeout (the libc functions of the last two hide it; the system calls do not).
long ppoll(struct pollfd* fds, unsigned long n, struct timespec* timeout, const void* mask, size_t sigsetsize) {
  return restart_sys([&] { return raw::sys(SYS_ppoll, fds, n, timeout, mask, sigsetsize); });
}

long select(int n, void* r, void* w, void* e, void* timeout) {
  return restart_sys([&] { return raw::sys(SYS_select, n, r, w, e, timeout); });
}

long pselect6(int n, void* r, void* w, void* e, void* timeout, void* sigdata) {
  return restart_sys([&] { return raw::sys(SYS_pselect6, n, r, w, e, timeout, sigdata); });
}

long epoll_wait(int epfd, void* events, int max, int timeout_ms) {
  CkptTimeout left(timeout_ms);
  return restart_sys(left, [&] { return raw::sys(SYS_epoll_wait, epfd, events, max, left.ms()); });
}

long epoll_pwait(int epfd, void* events, int max, int timeout_ms, const void* mask, size_t sigsetsize) {
  CkptTimeout left(timeout_ms);
  return restart_sys(left, [&] {
    return raw::sys(SYS_epoll_pwait, epfd, events, max, left.ms(), mask, sigsetsize);
  });
}

long epoll_pwait2(int epfd, void* events, int max, const struct timespec* timeout, const void* mask,
                  size_t sigsetsize) {
  CkptTimeout left(timeout);
  return restart_sys(left, [&] {
    return raw::sys(SYS_epoll_pwait2, epfd, events, max, left.ts(), mask, sigsetsize);
  });
}

long pause() {
  return restart_sys([] { return raw::sys(SYS_pause); });
}

// Only waits with a timeout see EINTR (without one the kernel restarts them):
// FUTEX_WAIT's is relative, FUTEX_WAIT_BITSET's absolute.
long futex(uint32_t* uaddr, int op, uint32_t val, const struct timespec* timeout, uint32_t* uaddr2,
           uint32_t val3) {
  int cmd = op & FUTEX_CMD_MASK;
  auto call = [&](const struct timespec* t) { return raw::sys(SYS_futex, uaddr, op, val, t, uaddr2, val3); };
  if (!timeout || (cmd != FUTEX_WAIT && cmd != FUTEX_WAIT_BITSET)) return call(timeout);
  CkptTimeout left(cmd == FUTEX_WAIT ? timeout : nullptr);
  return restart_sys(left, [&] { return call(cmd == FUTEX_WAIT ? left.ts() : timeout); });
}

}  // namespace vproc::lib::sys
