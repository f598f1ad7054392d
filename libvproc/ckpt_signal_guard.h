// The checkpoint signal, hidden from the program (PITFALLS 12, 14).
//
// Whatever the program does, the kernel's disposition for the signal stays our
// handler and no thread's mask blocks it: otherwise a program that installs
// its own handler for every signal, or blocks them all (sigfillset), could
// never be checkpointed. The program still sees the signal as its own:
//  - the disposition it installs (any libc call, or rt_sigaction(2) through
//    syscall()) is kept in CkptState and reported back; our handler passes the
//    signals that are not checkpoint requests to forward_to_program(), which
//    does what the kernel would have done with that disposition;
//  - whether it blocked the signal is a per-thread bit (t_ckpt_blocked),
//    reported in every old mask; such a signal waits in a small queue until
//    the program unblocks it or waits for it (ckpt_pending.cc).
// DMTCP guards its signal the same way (src/signalwrappers.cpp), but drops the
// program's handler and blocking instead of emulating them.
//
// Where the emulation differs from the kernel (for the program's own use of
// the signal only):
//  - its handler runs inside ours: on our stack (no SA_ONSTACK), and a system
//    call it interrupted restarts (SA_RESTART is ours);
//  - a handler left by siglongjmp keeps the signal blocked for the program
//    until it next sets its mask;
//  - an instance sent to the process and taken by a thread that blocks it
//    waits until a thread unblocks it or waits for it (only the latest
//    sigwait() is woken), even if another thread had it unblocked all along;
//  - signalfd never reads it; a new image (exec, posix_spawn) starts with it
//    unblocked; sigblock/sigsetmask (32-bit masks) are not guarded.
//
// All of it only when state().ckpt.signo != 0.
#pragma once

#include <signal.h>

#include <cstdint>

#include "state.h"

namespace vproc::lib {

// The checkpoint signal, 0 when checkpointing is off in this process. For
// wrappers: runs the library's init first, so that a program's constructor
// running before ours cannot install or block the signal before we do.
inline int ckpt_signal() { return active() ? state().ckpt.signo : 0; }
inline bool is_ckpt_signal(int sig) { return sig != 0 && sig == ckpt_signal(); }
constexpr uint64_t sig_bit(int sig) { return uint64_t{1} << (sig - 1); }

inline bool has_ckpt_signal(const sigset_t* set) {
  int sig = ckpt_signal();
  return sig && set && sigismember(set, sig) == 1;
}
inline bool has_ckpt_signal(uint64_t set) {
  int sig = ckpt_signal();
  return sig && (set & sig_bit(sig));
}
// A set without the checkpoint signal: `set` itself, or `copy` made from it.
inline const sigset_t* without_ckpt_signal(const sigset_t* set, sigset_t& copy) {
  if (!has_ckpt_signal(set)) return set;
  copy = *set;
  sigdelset(&copy, ckpt_signal());
  return &copy;
}
inline uint64_t without_ckpt_signal(uint64_t set) {
  int sig = ckpt_signal();
  return sig ? set & ~sig_bit(sig) : set;
}

// Whether the program has the signal blocked in this thread (initial-exec TLS:
// read in the handler).
extern __thread bool t_ckpt_blocked __attribute__((tls_model("initial-exec")));

// --- Dispositions (ckpt_signal_guard.cc), for sig == ckpt_signal(). ---------
// sigaction(2) in glibc's layout; 0 or -errno.
int ckpt_sigaction(int sig, const struct sigaction* act, struct sigaction* oact);
// rt_sigaction(2) in the kernel's layout (sigsetsize already checked).
long ckpt_rt_sigaction(int sig, const void* act, void* oact);
// signal() and relatives, with glibc's flags for each.
enum class SignalStyle { Bsd, SysV, Sigset };
sighandler_t ckpt_signal_call(int sig, sighandler_t handler, SignalStyle style);

// --- Waiting (ckpt_sigwait.cc), for sets that include the signal. -----------
// sigtimedwait(3) (libc convention); the kernel's rt_sigtimedwait (-errno).
int ckpt_sigtimedwait(const sigset_t* set, siginfo_t* info, const struct timespec* timeout);
long ckpt_rt_sigtimedwait(const uint64_t* set, siginfo_t* info, const struct timespec* timeout);

// --- Instances that arrive while blocked (ckpt_pending.cc). -----------------
bool pending_any();
void pending_push(const siginfo_t& info);
bool pending_pop(siginfo_t* out);
void pending_clear();
// Sends every pending instance to this thread again: the kernel delivers them
// as soon as the signal is not blocked in the real mask.
void pending_resend(int sig);
// Wakes a thread waiting for the signal in sigwait() (a new instance is pending).
void wake_waiter(int sig);
// Our wake-up call (not the program's signal, not a checkpoint request).
bool is_wake_signal(const siginfo_t* si);
// A checkpoint request (the same test the handler makes).
bool is_ckpt_request(const siginfo_t* si);

}  // namespace vproc::lib
