// Signal handlers that take a siginfo_t (SA_SIGINFO): they run behind our
// trampoline, which rewrites si_pid to the sender's vpid first.
//
// The kernel fills si_pid with the sender's real pid; a program comparing it to
// a pid it learned from fork() or getpid() would never find a match. So for an
// SA_SIGINFO handler we install `trampoline` with the program's flags and mask
// and keep the program's function in state().user_sigaction[sig]. Everything
// that reports a disposition back (sigaction's oldact, signal()'s return value)
// shows the program's function, never the trampoline.
//
// Handlers without SA_SIGINFO get no siginfo and are installed untouched.
//
// The checkpoint signal is the exception: its disposition is emulated, and
// no handler's sa_mask may block it (ckpt_signal_guard.h).
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "ckpt_signal_guard.h"
#include "libc_boundary.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "siginfo_pid.h"
#include "state.h"
#include "sys_entry.h"
#include "preload_rules.h"

// Exported by glibc, not declared by its headers.
extern "C" {
int __sigaction(int sig, const struct sigaction* act, struct sigaction* oact) noexcept;
sighandler_t bsd_signal(int sig, sighandler_t handler) noexcept;
}

using namespace vproc;
using namespace vproc::lib;

// sigset is obsolescent (and marked deprecated), but programs still call it.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

VPROC_REAL(sigaction);
VPROC_REAL(__sigaction);
VPROC_REAL(signal);
VPROC_REAL(bsd_signal);
VPROC_REAL(ssignal);
VPROC_REAL(sysv_signal);
VPROC_REAL(__sysv_signal);
VPROC_REAL(sigset);

namespace {

using InfoHandler = void (*)(int, siginfo_t*, void*);

// Signal numbers a disposition can be stored for (the kernel's 1.._NSIG-1).
constexpr bool storable(int sig) { return sig >= 1 && sig <= 64; }

std::atomic<uintptr_t>& slot(int sig) { return state().user_sigaction[sig]; }

void trampoline(int sig, siginfo_t* info, void* uctx) {
  uintptr_t h = storable(sig) ? slot(sig).load(std::memory_order_acquire) : 0;
  if (info && state().init.load(std::memory_order_acquire) == InitState::Active)
    siginfo_pid_to_virtual(info);  // keeps errno: the handler sees the program's
  // 0 only if the program replaced the handler while this signal was being
  // delivered: the new disposition applies from the next signal on.
  if (h > uintptr_t(SIG_IGN)) reinterpret_cast<InfoHandler>(h)(sig, info, uctx);
}

const uintptr_t kTrampoline = reinterpret_cast<uintptr_t>(&trampoline);

// A handler value that is a function of the program's (not SIG_DFL, SIG_IGN,
// SIG_ERR or SIG_HOLD).
bool is_function(uintptr_t h) {
  return h > uintptr_t(SIG_IGN) && h != uintptr_t(SIG_ERR) && h != uintptr_t(SIG_HOLD);
}

// The two layouts a disposition comes in: glibc's struct sigaction, and the
// kernel's (rt_sigaction(2) through syscall(), which has no libc in between).
struct KernelSigaction {
  uintptr_t handler;
  unsigned long flags;
  uintptr_t restorer;
  uint64_t mask;
};

uintptr_t handler_of(const struct sigaction& a) { return reinterpret_cast<uintptr_t>(a.sa_sigaction); }
void set_handler(struct sigaction& a, uintptr_t h) {
  a.sa_sigaction = reinterpret_cast<InfoHandler>(h);
}
unsigned long flags_of(const struct sigaction& a) { return unsigned(a.sa_flags); }
uintptr_t handler_of(const KernelSigaction& a) { return a.handler; }
void set_handler(KernelSigaction& a, uintptr_t h) { a.handler = h; }
unsigned long flags_of(const KernelSigaction& a) { return a.flags; }

// Installs `act` for `sig` through `install` (which returns 0 or -errno) with
// the trampoline in place of an SA_SIGINFO function, and reports the previous
// disposition in *oact as the program installed it.
template <typename Act, typename Install>
long install_sigaction(int sig, const Act* act, Act* oact, Install install) {
  uintptr_t prev;
  long r;
  if (act && (flags_of(*act) & SA_SIGINFO) && is_function(handler_of(*act))) {
    Act ours = *act;
    set_handler(ours, kTrampoline);
    // Stored before installing: from the moment the trampoline can run, it
    // finds the program's function.
    prev = slot(sig).exchange(handler_of(*act), std::memory_order_acq_rel);
    r = install(sig, &ours, oact);
    if (r < 0) {
      slot(sig).store(prev, std::memory_order_release);
      return r;
    }
  } else if (act) {
    // Cleared after installing: a signal arriving in between still runs the
    // trampoline, which needs the old function.
    prev = slot(sig).load(std::memory_order_acquire);
    r = install(sig, act, oact);
    if (r < 0) return r;
    slot(sig).store(0, std::memory_order_release);
  } else {
    prev = slot(sig).load(std::memory_order_acquire);
    r = install(sig, act, oact);
    if (r < 0) return r;
  }
  if (oact && handler_of(*oact) == kTrampoline) set_handler(*oact, prev);
  return r;
}

template <typename Real>
int libc_sigaction(Real& real, int sig, const struct sigaction* act, struct sigaction* oact) {
  if (is_ckpt_signal(sig)) {
    int r = ckpt_sigaction(sig, act, oact);
    return r < 0 ? fail_errno(r) : 0;
  }
  struct sigaction clean;
  if (act && has_ckpt_signal(&act->sa_mask)) {
    clean = *act;
    sigdelset(&clean.sa_mask, ckpt_signal());
    act = &clean;
  }
  if (!storable(sig) || !active()) return real(sig, act, oact);
  long r = install_sigaction(sig, act, oact, [&](int s, const struct sigaction* a, struct sigaction* o) {
    return real(s, a, o) == 0 ? 0L : -long(errno);
  });
  return r < 0 ? fail_errno(int(r)) : 0;
}

// signal() and its relatives install plain handlers (never SA_SIGINFO) with
// glibc's own flag rules (siginterrupt state, SysV one-shot, SIG_HOLD), so
// glibc does the installing; we only forget the replaced SA_SIGINFO function
// and report it instead of the trampoline. `changes` is false when the call
// leaves the disposition alone (sigset with SIG_HOLD only blocks the signal).
template <typename Real>
sighandler_t libc_signal(Real& real, int sig, sighandler_t handler, SignalStyle style,
                         bool changes = true) {
  if (is_ckpt_signal(sig)) return ckpt_signal_call(sig, handler, style);
  if (!storable(sig) || !active()) return real(sig, handler);
  uintptr_t prev = slot(sig).load(std::memory_order_acquire);
  sighandler_t old = real(sig, handler);
  if (old == SIG_ERR) return old;
  if (changes) slot(sig).store(0, std::memory_order_release);
  if (reinterpret_cast<uintptr_t>(old) == kTrampoline) return reinterpret_cast<sighandler_t>(prev);
  return old;
}

}  // namespace

VPROC_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* oact) noexcept {
  return libc_sigaction(real_sigaction, sig, act, oact);
}

VPROC_EXPORT int __sigaction(int sig, const struct sigaction* act, struct sigaction* oact) noexcept {
  return libc_sigaction(real___sigaction, sig, act, oact);
}

VPROC_EXPORT sighandler_t signal(int sig, sighandler_t handler) noexcept {
  return libc_signal(real_signal, sig, handler, SignalStyle::Bsd);
}

VPROC_EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler) noexcept {
  return libc_signal(real_bsd_signal, sig, handler, SignalStyle::Bsd);
}

VPROC_EXPORT sighandler_t ssignal(int sig, sighandler_t handler) noexcept {
  return libc_signal(real_ssignal, sig, handler, SignalStyle::Bsd);
}

VPROC_EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler) noexcept {
  return libc_signal(real_sysv_signal, sig, handler, SignalStyle::SysV);
}

VPROC_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t handler) noexcept {
  return libc_signal(real___sysv_signal, sig, handler, SignalStyle::SysV);
}

VPROC_EXPORT sighandler_t sigset(int sig, sighandler_t disp) noexcept {
  return libc_signal(real_sigset, sig, disp, SignalStyle::Sigset, disp != SIG_HOLD);
}

namespace vproc::lib::sys {

long rt_sigaction(int sig, const void* act, void* oact, size_t sigsetsize) {
  auto raw_install = [sigsetsize](int s, const KernelSigaction* a, KernelSigaction* o) {
    return raw::sys(SYS_rt_sigaction, s, a, o, sigsetsize);
  };
  // The kernel rejects other mask sizes before looking at anything else.
  if (!storable(sig) || sigsetsize != sizeof(uint64_t) || !active())
    return raw::sys(SYS_rt_sigaction, sig, act, oact, sigsetsize);
  if (is_ckpt_signal(sig)) return ckpt_rt_sigaction(sig, act, oact);
  KernelSigaction clean;
  if (act) {
    clean = *static_cast<const KernelSigaction*>(act);
    clean.mask = without_ckpt_signal(clean.mask);
    act = &clean;
  }
  return install_sigaction(sig, static_cast<const KernelSigaction*>(act),
                           static_cast<KernelSigaction*>(oact), raw_install);
}

}  // namespace vproc::lib::sys
