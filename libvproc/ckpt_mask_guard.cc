// Signal masks never block the checkpoint signal (ckpt_signal_guard.h).
//
// Every call that sets a mask from the program's set gets the set without the
// signal, and this thread's t_ckpt_blocked records whether the program asked
// for it; old masks report that bit. Calls that install a mask only for their
// duration (sigsuspend, ppoll, pselect, epoll_pwait) do the same for that
// duration. Masks set for someone else (a posix_spawn child, a new thread's
// attributes) lose the signal; a new thread inherits its creator's bit, as it
// inherits the mask.
//
// glibc blocks every signal for a moment inside pthread_create, fork,
// posix_spawn and raise, through internal calls that no wrapper sees: a
// checkpoint request then waits that moment.
//
// The calls with a mask for their duration also go on after a checkpoint
// instead of failing with EINTR (ckpt_restart.h).
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>

#include "ckpt_internal.h"
#include "ckpt_restart.h"
#include "ckpt_signal_guard.h"
#include "libc_boundary.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "state.h"
#include "sys_entry.h"
#include "vtid.h"
#include "preload_rules.h"

// The fortified ppoll (glibc's <bits/poll2.h>, only declared with _FORTIFY_SOURCE).
extern "C" int __ppoll_chk(struct pollfd* fds, nfds_t nfds, const struct timespec* timeout,
                           const sigset_t* ss, size_t fdslen) noexcept;

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(sigprocmask);
VPROC_REAL(pthread_sigmask);
VPROC_REAL(sigsuspend);
VPROC_REAL(sigpending);
VPROC_REAL(ppoll);
VPROC_REAL(__ppoll_chk);
VPROC_REAL(pselect);
VPROC_REAL(epoll_pwait);
VPROC_REAL(epoll_pwait2);
VPROC_REAL(posix_spawnattr_setsigmask);
VPROC_REAL(pthread_attr_setsigmask_np);
VPROC_REAL(pthread_create);

namespace vproc::lib {

__thread bool t_ckpt_blocked __attribute__((tls_model("initial-exec"))) = false;

void unblock_ckpt_signal(int sig) {
  uint64_t b = sig_bit(sig);
  raw::sys(SYS_rt_sigprocmask, SIG_UNBLOCK, &b, nullptr, sizeof b);
}

}  // namespace vproc::lib

namespace {

// The two layouts of a mask: glibc's sigset_t, the kernel's 64 bits.
bool has(const sigset_t& s, int sig) { return sigismember(&s, sig) == 1; }
void set_bit(sigset_t& s, int sig, bool on) { on ? sigaddset(&s, sig) : sigdelset(&s, sig); }
bool has(uint64_t s, int sig) { return s & sig_bit(sig); }
void set_bit(uint64_t& s, int sig, bool on) { s = on ? s | sig_bit(sig) : s & ~sig_bit(sig); }

bool next_blocked(int how, bool in_set, bool was) {
  switch (how) {
    case SIG_BLOCK: return was || in_set;
    case SIG_UNBLOCK: return was && !in_set;
    case SIG_SETMASK: return in_set;
    default: return was;
  }
}

// sigprocmask(2) and its relatives. `call(how, set, old)` returns 0 or -errno.
template <typename Set, typename Call>
long change_mask(int how, const Set* set, Set* old, Call call) {
  int sig = ckpt_signal();
  if (!sig) return call(how, set, old);
  bool was = t_ckpt_blocked, now = was;
  Set copy;
  if (set) {
    copy = *set;  // before the call: `old` may be the same object
    now = next_blocked(how, has(copy, sig), was);
    set_bit(copy, sig, false);
    set = &copy;
  }
  long r = call(how, set, old);
  if (r < 0) return r;
  if (old) set_bit(*old, sig, was);
  t_ckpt_blocked = now;
  // POSIX: a pending signal that this call unblocks is delivered before it returns.
  if (!now && pending_any()) pending_resend(sig);
  return r;
}

// A call that runs with the program's mask in place for its duration.
// Instances the program kept pending are due if that mask lets them in: sent
// again with the signal really blocked, they arrive when the call installs
// its mask, and interrupt it as they would have.
template <typename Set, typename Call>
auto with_mask(const Set* mask, Call call) {
  int sig = ckpt_signal();
  if (!sig || !mask) return call(mask);
  Set copy = *mask;
  bool blocked = has(copy, sig);
  set_bit(copy, sig, false);
  bool was = t_ckpt_blocked;
  t_ckpt_blocked = blocked;
  uint64_t b = sig_bit(sig), before = 0;
  bool resend = !blocked && pending_any();
  if (resend) {
    raw::sys(SYS_rt_sigprocmask, SIG_BLOCK, &b, &before, sizeof b);
    pending_resend(sig);
  }
  auto r = call(&copy);
  int saved_errno = errno;
  if (resend && !(before & b)) raw::sys(SYS_rt_sigprocmask, SIG_UNBLOCK, &b, nullptr, sizeof b);
  t_ckpt_blocked = was;
  errno = saved_errno;
  return r;
}

long libc_errno() { return -long(errno); }

// A new thread, before the program's start routine: blocked if its creator
// blocked the signal, and with its vtid (vtid.h), so that it is listed with
// one (wrap_readdir.cc) even if it never asks. Not noexcept: pthread_exit and
// pthread_cancel unwind through this frame.
void* start_thread(void* p) {
  auto* s = static_cast<BlockedThreadStart*>(p);
  void* (*fn)(void*) = s->fn;
  void* arg = s->arg;
  bool blocked = s->blocked;
  s->used.store(0, std::memory_order_release);
  if (blocked) t_ckpt_blocked = true;
  if (active()) current_vtid();
  return fn(arg);
}

BlockedThreadStart* claim_start() {
  for (BlockedThreadStart& s : state().ckpt.guard.starts) {
    uint32_t free = 0;
    if (s.used.compare_exchange_strong(free, 1, std::memory_order_acq_rel)) return &s;
  }
  return nullptr;
}

}  // namespace

VPROC_EXPORT int sigprocmask(int how, const sigset_t* set, sigset_t* old) noexcept {
  long r = change_mask(how, set, old, [](int h, const sigset_t* s, sigset_t* o) {
    return real_sigprocmask(h, s, o) == 0 ? 0L : libc_errno();
  });
  return r < 0 ? fail_errno(int(r)) : 0;
}

VPROC_EXPORT int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) noexcept {
  int saved_errno = errno;
  long r = change_mask(how, set, old, [](int h, const sigset_t* s, sigset_t* o) {
    return -long(real_pthread_sigmask(h, s, o));
  });
  errno = saved_errno;
  return int(-r);
}

VPROC_EXPORT int sigsuspend(const sigset_t* mask) noexcept {
  return with_mask(mask, [](const sigset_t* m) { return restart_libc([&] { return real_sigsuspend(m); }); });
}

// glibc's ppoll and pselect copy the timeout (the kernel's time left never
// reaches the program): after a checkpoint, CkptTimeout says what is left.
VPROC_EXPORT int ppoll(struct pollfd* fds, nfds_t n, const struct timespec* timeout,
                       const sigset_t* mask) noexcept {
  return with_mask(mask, [&](const sigset_t* m) {
    CkptTimeout left(timeout);
    return restart_libc(left, [&] { return real_ppoll(fds, n, left.ts(), m); });
  });
}

VPROC_EXPORT int __ppoll_chk(struct pollfd* fds, nfds_t n, const struct timespec* timeout,
                             const sigset_t* mask, size_t fdslen) noexcept {
  return with_mask(mask, [&](const sigset_t* m) {
    CkptTimeout left(timeout);
    return restart_libc(left, [&] { return real___ppoll_chk(fds, n, left.ts(), m, fdslen); });
  });
}

VPROC_EXPORT int pselect(int n, fd_set* r, fd_set* w, fd_set* e, const struct timespec* timeout,
                         const sigset_t* mask) noexcept {
  return with_mask(mask, [&](const sigset_t* m) {
    CkptTimeout left(timeout);
    return restart_libc(left, [&] { return real_pselect(n, r, w, e, left.ts(), m); });
  });
}

VPROC_EXPORT int epoll_pwait(int epfd, struct epoll_event* events, int max, int timeout,
                             const sigset_t* mask) noexcept {
  return with_mask(mask, [&](const sigset_t* m) {
    CkptTimeout left(timeout);
    return restart_libc(left, [&] { return real_epoll_pwait(epfd, events, max, left.ms(), m); });
  });
}

VPROC_EXPORT int epoll_pwait2(int epfd, struct epoll_event* events, int max, const struct timespec* timeout,
                              const sigset_t* mask) noexcept {
  return with_mask(mask, [&](const sigset_t* m) {
    CkptTimeout left(timeout);
    return restart_libc(left, [&] { return real_epoll_pwait2(epfd, events, max, left.ts(), m); });
  });
}

VPROC_EXPORT int sigpending(sigset_t* set) noexcept {
  int r = real_sigpending(set);
  int sig = ckpt_signal();
  if (r == 0 && sig && pending_any()) sigaddset(set, sig);
  return r;
}

VPROC_EXPORT int posix_spawnattr_setsigmask(posix_spawnattr_t* attr, const sigset_t* mask) noexcept {
  sigset_t copy;
  return real_posix_spawnattr_setsigmask(attr, without_ckpt_signal(mask, copy));
}

VPROC_EXPORT int pthread_attr_setsigmask_np(pthread_attr_t* attr, const sigset_t* mask) noexcept {
  sigset_t copy;
  return real_pthread_attr_setsigmask_np(attr, without_ckpt_signal(mask, copy));
}

VPROC_EXPORT int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*),
                                void* arg) noexcept {
  // The signal stays blocked only for a creator that blocked it (and not
  // when the attributes give the thread a mask of its own).
  sigset_t attr_mask;
  bool blocked = t_ckpt_blocked && ckpt_signal() && !(attr && pthread_attr_getsigmask_np(attr, &attr_mask) == 0);
  if (!blocked && !active()) return real_pthread_create(thread, attr, fn, arg);
  BlockedThreadStart* s = claim_start();
  // Without a slot: starts unblocked, and takes its vtid when one is needed.
  if (!s) return real_pthread_create(thread, attr, fn, arg);
  s->fn = fn;
  s->arg = arg;
  s->blocked = blocked;
  int r = real_pthread_create(thread, attr, start_thread, s);
  if (r != 0) s->used.store(0, std::memory_order_release);
  return r;
}

namespace vproc::lib::sys {

long rt_sigprocmask(int how, const void* set, void* old, size_t sigsetsize) {
  if (sigsetsize != sizeof(uint64_t))
    return raw::sys(SYS_rt_sigprocmask, how, set, old, sigsetsize);
  return change_mask(how, static_cast<const uint64_t*>(set), static_cast<uint64_t*>(old),
                     [](int h, const uint64_t* s, uint64_t* o) {
                       return raw::sys(SYS_rt_sigprocmask, h, s, o, sizeof(uint64_t));
                     });
}

long rt_sigsuspend(const void* mask, size_t sigsetsize) {
  if (sigsetsize != sizeof(uint64_t)) return raw::sys(SYS_rt_sigsuspend, mask, sigsetsize);
  return with_mask(static_cast<const uint64_t*>(mask), [](const uint64_t* m) {
    return restart_sys([&] { return raw::sys(SYS_rt_sigsuspend, m, sizeof(uint64_t)); });
  });
}

}  // namespace vproc::lib::sys
