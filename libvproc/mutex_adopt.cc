#include "mutex_adopt.h"

#include <linux/futex.h>
#include <sys/syscall.h>

#include <cerrno>

#include "ckpt_threads.h"
#include "raw_syscall.h"

namespace vproc::lib {
namespace {

// Bits of __kind (glibc's nptl/pthreadP.h; stable ABI of its static
// initializers and debuggers).
constexpr int kKindRobust = 16, kKindPrioInherit = 32;

}  // namespace

void adopt_mutex_slow(pthread_mutex_t* m, MutexUse use) {
  int owner = __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED);
  if (owner <= 0) return;
  const int me = cached_real_tid();
  if (owner == me || current_tid_of(state().ckpt, owner) != me) return;
  // A live thread under that number is the owner now (mutex_adopt.h).
  if (use == MutexUse::Locking && raw::sys(SYS_tgkill, raw::sys(SYS_getpid), owner, 0) != -ESRCH) return;
  int kind = __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED);
  if (kind & kKindPrioInherit) return;
  if (kind & kKindRobust) {
    // The futex word: our old tid plus the waiter and owner-died bits.
    auto* word = reinterpret_cast<std::atomic<uint32_t>*>(&m->__data.__lock);
    uint32_t v = word->load(std::memory_order_relaxed);
    while ((v & FUTEX_TID_MASK) == uint32_t(owner) &&
           !word->compare_exchange_weak(v, (v & ~uint32_t(FUTEX_TID_MASK)) | uint32_t(me))) {
    }
  }
  // Only if it still names that owner: one that unlocked meanwhile (and left)
  // must not find its mutex given an owner while it is free.
  __atomic_compare_exchange_n(&m->__data.__owner, &owner, me, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

}  // namespace vproc::lib
