#include "mutex_adopt.h"

#include <linux/futex.h>
#include <sys/syscall.h>

#include "ckpt_threads.h"
#include "raw_syscall.h"

namespace vproc::lib {
namespace {

// Bits of __kind (glibc's nptl/pthreadP.h; stable ABI of its static
// initializers and debuggers).
constexpr int kKindRobust = 16, kKindPrioInherit = 32;

}  // namespace

void adopt_mutex_slow(pthread_mutex_t* m) {
  int owner = __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED);
  if (owner <= 0) return;
  int me = t_real_tid;
  if (me <= 0) me = int(raw::sys(SYS_gettid));
  if (owner == me || current_tid_of(state().ckpt, owner) != me) return;
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
  __atomic_store_n(&m->__data.__owner, me, __ATOMIC_RELAXED);
}

}  // namespace vproc::lib
