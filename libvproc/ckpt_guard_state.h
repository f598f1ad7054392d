// Two parts of CkptState (ckpt_state.h): the program's view of the checkpoint
// signal (ckpt_signal_guard.h) and what the C API registered (vproc.h).
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>

namespace vproc::lib {

// An instance of the checkpoint signal that is not a checkpoint request and
// arrived while the program had the signal blocked: pending until the program
// unblocks it or waits for it (ckpt_pending.cc).
struct PendingCkptSignal {
  std::atomic<uint32_t> phase{0};  // 0 free, 1 being written or read, 2 ready
  uint64_t seq = 0;                // delivery order
  siginfo_t info{};
};
inline constexpr int kMaxPendingCkptSignals = 8;

// A thread created through pthread_create starts in a trampoline
// (ckpt_mask_guard.cc) that takes its vtid and, if its creator blocked the
// signal, starts it blocked too: its start routine, until the thread has it.
struct BlockedThreadStart {
  std::atomic<uint32_t> used{0};
  void* (*fn)(void*) = nullptr;
  void* arg = nullptr;
  bool blocked = false;
};
inline constexpr int kMaxBlockedStarts = 64;

struct CkptSignalGuard {
  std::atomic<int> pending_count{0};
  std::atomic<int> pending_owner{0};  // real pid that queued them: a fork child starts with none
  std::atomic<uint64_t> pending_seq{0};
  PendingCkptSignal pending[kMaxPendingCkptSignals];
  std::atomic<int> waiter_tid{0};  // a thread in sigwait() for the signal, woken on a new pending one
  std::atomic<bool> interrupt{false};  // siginterrupt(sig, 1): signal() installs without SA_RESTART
  BlockedThreadStart starts[kMaxBlockedStarts];
};

// A function registered with vproc_at_checkpoint() or vproc_at_restore().
struct CkptCallback {
  std::atomic<uintptr_t> fn{0};  // stored after arg: a runner sees a slot whole or not at all
  void* arg = nullptr;
};
inline constexpr int kMaxCkptCallbacks = 16;

struct CkptCallbacks {
  std::atomic<int> checkpoint_count{0}, restore_count{0};
  CkptCallback checkpoint[kMaxCkptCallbacks], restore[kMaxCkptCallbacks];
  std::atomic<int> self_tid{0};  // the thread inside vproc_checkpoint(), 0 when none
  char last_error[256] = {};     // vproc_checkpoint_error()
};

}  // namespace vproc::lib
