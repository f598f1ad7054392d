// The checkpoint signal's disposition as the program sees it
// (ckpt_signal_guard.h): what it installs is kept, reported and emulated here;
// the kernel keeps our handler.
#include "ckpt_signal_guard.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "ckpt_internal.h"
#include "libc_boundary.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "siginfo_pid.h"
#include "state.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

// sighold and friends are obsolescent (and marked deprecated), but exported.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

VPROC_REAL(sigaction);
VPROC_REAL(sigignore);
VPROC_REAL(siginterrupt);
VPROC_REAL(sighold);
VPROC_REAL(sigrelse);

namespace {

using InfoHandler = void (*)(int, siginfo_t*, void*);
using PlainHandler = void (*)(int);

// The kernel's struct sigaction (x86-64).
struct KSigaction {
  uintptr_t handler;
  unsigned long flags;
  uintptr_t restorer;
  uint64_t mask;
};

// The kernel's flag for "sa_restorer is set" (not in glibc's headers), which
// glibc adds to every disposition it installs.
constexpr unsigned long kSaRestorer = 0x04000000;

// The kernel never blocks these, and drops them from every sa_mask.
constexpr uint64_t kUnblockable = sig_bit(SIGKILL) | sig_bit(SIGSTOP);

uint64_t mask64(const sigset_t& s) {
  uint64_t m;
  memcpy(&m, &s, sizeof m);
  return m;
}

void set_mask64(sigset_t& s, uint64_t m) {
  sigemptyset(&s);
  memcpy(&s, &m, sizeof m);
}

// The restorer glibc gave our handler: what a program's SA_RESTORER
// disposition would report.
uintptr_t our_restorer(int sig) {
  KSigaction k{};
  raw::sys(SYS_rt_sigaction, sig, nullptr, &k, sizeof(uint64_t));
  return k.restorer;
}

void set_disposition(uintptr_t handler, uint64_t flags, uint64_t mask) {
  CkptState& c = state().ckpt;
  c.user_flags = flags;
  c.user_mask = mask & ~kUnblockable;
  c.user_handler.store(handler, std::memory_order_release);
  // POSIX: setting SIG_IGN discards the pending instances.
  if (handler == uintptr_t(SIG_IGN)) pending_clear();
}

// The program unblocks the signal in this thread (sigset, sigrelse): what it
// missed while blocked is delivered before the call returns.
void unblock_virtually(int sig) {
  t_ckpt_blocked = false;
  if (pending_any()) pending_resend(sig);
}

bool default_is_ignore(int sig) {
  return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH;
}

// SIG_DFL: the kernel's default action, taken by the kernel itself. The signal
// is sent to this thread again with the default disposition in place and then
// unblocked, which terminates the process (with a core dump where due) exactly
// as it would have, or stops it. Still here: it was stopped and continued.
void default_action(int sig, const siginfo_t* si) {
  if (default_is_ignore(sig)) return;
  KSigaction ours{}, dfl{};
  raw::sys(SYS_rt_sigaction, sig, nullptr, &ours, sizeof(uint64_t));
  raw::sys(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(uint64_t));
  long pid = raw::sys(SYS_getpid), tid = raw::sys(SYS_gettid);
  if (si) {
    siginfo_t again = *si;
    raw::sys(SYS_rt_tgsigqueueinfo, pid, tid, sig, &again);
  } else {
    raw::sys(SYS_tgkill, pid, tid, sig);
  }
  uint64_t b = sig_bit(sig);
  raw::sys(SYS_rt_sigprocmask, SIG_UNBLOCK, &b, nullptr, sizeof b);
  raw::sys(SYS_rt_sigprocmask, SIG_BLOCK, &b, nullptr, sizeof b);
  raw::sys(SYS_rt_sigaction, sig, &ours, nullptr, sizeof(uint64_t));
}

void call_program_handler(uintptr_t h, uint64_t flags, int sig, siginfo_t* si, void* uc) {
  if (flags & SA_SIGINFO) {
    // As behind signals.cc's trampoline: the sender's vpid in si_pid.
    if (si && state().init.load(std::memory_order_acquire) == InitState::Active)
      siginfo_pid_to_virtual(si);
    reinterpret_cast<InfoHandler>(h)(sig, si, uc);
  } else {
    reinterpret_cast<PlainHandler>(h)(sig);
  }
}

}  // namespace

namespace vproc::lib {

// Runs inside the checkpoint handler, whose mask blocks every signal.
void forward_to_program(int sig, siginfo_t* si, void* ucv) {
  if (is_wake_signal(si)) return;  // only meant to end a sigwait (ckpt_pending.cc)
  if (t_ckpt_blocked) {
    if (si) pending_push(*si);
    wake_waiter(sig);
    return;
  }
  CkptState& c = state().ckpt;
  uintptr_t h = c.user_handler.load(std::memory_order_acquire);
  uint64_t flags = c.user_flags, mask = c.user_mask;
  if (h == uintptr_t(SIG_IGN)) return;
  if (h == uintptr_t(SIG_DFL)) return default_action(sig, si);
  if (flags & SA_RESETHAND) {
    uintptr_t expected = h;
    c.user_handler.compare_exchange_strong(expected, uintptr_t(SIG_DFL), std::memory_order_acq_rel);
  }
  // The mask the kernel would run the program's handler with: the interrupted
  // code's, its sa_mask and, unless SA_NODEFER, the signal itself (that one
  // only virtually: a checkpoint request may still come in).
  uint64_t during = mask;
  if (ucv) during |= mask64(static_cast<ucontext_t*>(ucv)->uc_sigmask);
  during &= ~sig_bit(sig);
  t_ckpt_blocked = !(flags & SA_NODEFER) || (mask & sig_bit(sig));
  uint64_t ours = 0;
  raw::sys(SYS_rt_sigprocmask, SIG_SETMASK, &during, &ours, sizeof during);
  call_program_handler(h, flags, sig, si, ucv);
  raw::sys(SYS_rt_sigprocmask, SIG_SETMASK, &ours, nullptr, sizeof ours);
  t_ckpt_blocked = false;
  // Instances that came in meanwhile: delivered once our handler returns.
  if (pending_any()) pending_resend(sig);
}

int real_sigaction_for_ckpt(int sig, const struct sigaction* sa) {
  struct sigaction old {};
  if (real_sigaction(sig, sa, &old) != 0) return -1;
  // What was there is the program's: SIG_DFL after an exec, or SIG_IGN kept
  // across it (nohup-style). Our own handler when installed again.
  if (old.sa_sigaction != sa->sa_sigaction)
    set_disposition(reinterpret_cast<uintptr_t>(old.sa_sigaction), unsigned(old.sa_flags),
                    mask64(old.sa_mask));
  return 0;
}

// Both take the previous disposition before installing: `act` and `oact` may
// be the same object.
int ckpt_sigaction(int sig, const struct sigaction* act, struct sigaction* oact) {
  CkptState& c = state().ckpt;
  struct sigaction prev {};
  if (oact) {
    prev.sa_sigaction = reinterpret_cast<InfoHandler>(c.user_handler.load(std::memory_order_acquire));
    prev.sa_flags = int(c.user_flags);
    set_mask64(prev.sa_mask, c.user_mask);
    if (prev.sa_flags & kSaRestorer) prev.sa_restorer = reinterpret_cast<void (*)()>(our_restorer(sig));
  }
  // glibc adds SA_RESTORER to what it hands the kernel, which reports it back.
  if (act)
    set_disposition(reinterpret_cast<uintptr_t>(act->sa_sigaction), unsigned(act->sa_flags) | kSaRestorer,
                    mask64(act->sa_mask));
  if (oact) *oact = prev;
  return 0;
}

long ckpt_rt_sigaction(int sig, const void* act, void* oact) {
  CkptState& c = state().ckpt;
  KSigaction prev{};
  if (oact) {
    prev.handler = c.user_handler.load(std::memory_order_acquire);
    prev.flags = c.user_flags;
    prev.mask = c.user_mask;
    if (prev.flags & kSaRestorer) prev.restorer = our_restorer(sig);
  }
  if (act) {
    const auto* a = static_cast<const KSigaction*>(act);
    set_disposition(a->handler, a->flags, a->mask);
  }
  if (oact) *static_cast<KSigaction*>(oact) = prev;
  return 0;
}

// glibc's flags for each: signal()/bsd_signal()/ssignal() (BSD: restarting
// unless siginterrupt() said otherwise, the signal blocked in its handler),
// sysv_signal() (one-shot, not blocked), sigset() (plain, plus SIG_HOLD).
sighandler_t ckpt_signal_call(int sig, sighandler_t handler, SignalStyle style) {
  if (handler == SIG_ERR) {
    errno = EINVAL;
    return SIG_ERR;
  }
  CkptState& c = state().ckpt;
  auto old = reinterpret_cast<sighandler_t>(c.user_handler.load(std::memory_order_acquire));
  uintptr_t h = reinterpret_cast<uintptr_t>(handler);
  switch (style) {
    case SignalStyle::Bsd: {
      bool interrupt = c.guard.interrupt.load(std::memory_order_relaxed);
      set_disposition(h, kSaRestorer | (interrupt ? 0 : SA_RESTART), sig_bit(sig));
      return old;
    }
    case SignalStyle::SysV:
      set_disposition(h, kSaRestorer | SA_RESETHAND | SA_NODEFER, 0);
      return old;
    case SignalStyle::Sigset: {
      bool was_held = t_ckpt_blocked;
      if (handler == SIG_HOLD) {
        t_ckpt_blocked = true;
        return was_held ? SIG_HOLD : old;
      }
      set_disposition(h, kSaRestorer, 0);
      unblock_virtually(sig);
      return was_held ? SIG_HOLD : old;
    }
  }
  return old;
}

}  // namespace vproc::lib

// The XSI calls below would install or block the signal through glibc's
// internal sigaction/sigprocmask, past our wrappers.

VPROC_EXPORT int sigignore(int sig) noexcept {
  if (!is_ckpt_signal(sig)) return real_sigignore(sig);
  set_disposition(uintptr_t(SIG_IGN), kSaRestorer, 0);
  return 0;
}

VPROC_EXPORT int siginterrupt(int sig, int interrupt) noexcept {
  if (!is_ckpt_signal(sig)) return real_siginterrupt(sig, interrupt);
  CkptState& c = state().ckpt;
  c.guard.interrupt.store(interrupt != 0, std::memory_order_relaxed);
  if (interrupt)
    c.user_flags &= ~uint64_t(SA_RESTART);
  else
    c.user_flags |= SA_RESTART;
  return 0;
}

VPROC_EXPORT int sighold(int sig) noexcept {
  if (!is_ckpt_signal(sig)) return real_sighold(sig);
  t_ckpt_blocked = true;
  return 0;
}

VPROC_EXPORT int sigrelse(int sig) noexcept {
  if (!is_ckpt_signal(sig)) return real_sigrelse(sig);
  unblock_virtually(sig);
  return 0;
}
