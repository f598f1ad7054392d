// The program's own instances of the checkpoint signal that arrive while it
// has the signal blocked (ckpt_signal_guard.h).
//
// The kernel would keep them pending. It cannot here, because the signal is
// never really blocked: our handler takes them and queues them in CkptState,
// and they are sent to the thread again (rt_tgsigqueueinfo to itself, with the
// original siginfo) when the program unblocks the signal, or handed out by a
// sigwait() for it. One queue for the process: a per-thread queue would only
// differ for signals sent to one blocked thread in particular.
#include <signal.h>
#include <sys/syscall.h>

#include "ckpt_handler.h"
#include "ckpt_internal.h"
#include "ckpt_retry.h"
#include "ckpt_signal_guard.h"
#include "raw_syscall.h"
#include "state.h"
#include "preload_rules.h"

namespace vproc::lib {
namespace {

// The value of our wake-up calls ("VPWK" and nothing else).
constexpr uint64_t kWakeValue = uint64_t(0x5650574bu) << 32;

CkptSignalGuard& guard() { return state().ckpt.guard; }

uint64_t value_of(const siginfo_t* si) {
  return uint64_t(reinterpret_cast<uintptr_t>(si->si_value.sival_ptr));
}

// Pending signals are not inherited by a fork child (nor are the kernel's):
// the queue belongs to the process that filled it.
bool owned_here(CkptSignalGuard& g) {
  return g.pending_owner.load(std::memory_order_acquire) == int(raw::sys(SYS_getpid));
}

void drop_all(CkptSignalGuard& g) {
  for (PendingCkptSignal& p : g.pending) {
    uint32_t ready = 2;
    if (p.phase.compare_exchange_strong(ready, 1, std::memory_order_acq_rel)) {
      g.pending_count.fetch_sub(1, std::memory_order_acq_rel);
      p.phase.store(0, std::memory_order_release);
    }
  }
}

}  // namespace

bool pending_any() {
  CkptSignalGuard& g = guard();
  if (g.pending_count.load(std::memory_order_acquire) <= 0) return false;
  if (owned_here(g)) return true;
  drop_all(g);  // a fork child's copy
  return false;
}

void pending_push(const siginfo_t& info) {
  CkptSignalGuard& g = guard();
  int self = int(raw::sys(SYS_getpid));
  if (g.pending_owner.load(std::memory_order_acquire) != self) {
    drop_all(g);
    g.pending_owner.store(self, std::memory_order_release);
  }
  for (PendingCkptSignal& p : g.pending) {
    uint32_t free = 0;
    if (!p.phase.compare_exchange_strong(free, 1, std::memory_order_acq_rel)) continue;
    p.info = info;
    p.seq = g.pending_seq.fetch_add(1, std::memory_order_relaxed);
    p.phase.store(2, std::memory_order_release);
    g.pending_count.fetch_add(1, std::memory_order_acq_rel);
    return;
  }
  // Full: dropped, as the kernel drops signals beyond RLIMIT_SIGPENDING.
}

bool pending_pop(siginfo_t* out) {
  if (!pending_any()) return false;
  CkptSignalGuard& g = guard();
  // The oldest first: the kernel delivers queued instances in order.
  for (;;) {
    PendingCkptSignal* oldest = nullptr;
    for (PendingCkptSignal& p : g.pending)
      if (p.phase.load(std::memory_order_acquire) == 2 && (!oldest || p.seq < oldest->seq)) oldest = &p;
    if (!oldest) return false;
    uint32_t ready = 2;
    if (!oldest->phase.compare_exchange_strong(ready, 1, std::memory_order_acq_rel)) continue;
    if (out) *out = oldest->info;
    g.pending_count.fetch_sub(1, std::memory_order_acq_rel);
    oldest->phase.store(0, std::memory_order_release);
    return true;
  }
}

void pending_clear() {
  if (guard().pending_count.load(std::memory_order_acquire) > 0) drop_all(guard());
}

void pending_resend(int sig) {
  long pid = raw::sys(SYS_getpid), tid = raw::sys(SYS_gettid);
  siginfo_t info;
  // The kernel accepts any si_code when a thread sends to itself.
  while (pending_pop(&info)) raw::sys(SYS_rt_tgsigqueueinfo, pid, tid, sig, &info);
}

void wake_waiter(int sig) {
  int tid = guard().waiter_tid.load(std::memory_order_seq_cst);
  if (tid == 0 || tid == int(raw::sys(SYS_gettid))) return;
  queue_to_thread(tid, sig, kWakeValue);
}

bool is_wake_signal(const siginfo_t* si) {
  return si && si->si_code == SI_QUEUE && value_of(si) == kWakeValue &&
         si->si_pid == pid_t(raw::sys(SYS_getpid));
}

bool is_ckpt_request(const siginfo_t* si) {
  return si && (si->si_code == SI_QUEUE || is_ckpt_retry(state().ckpt, si)) && is_ckpt_request_value(value_of(si));
}

}  // namespace vproc::lib
