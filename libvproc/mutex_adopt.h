// Mutexes locked before a checkpoint, used after the restore (PITFALLS 7).
//
// glibc writes the owner's kernel tid into every mutex it locks (__owner; for
// robust and PI mutexes also into the futex word) and compares it with the
// caller's cached tid: error-checking and recursive mutexes refuse an unlock
// (EPERM) or fail to recognise a relock by an owner whose tid has changed. A
// restored thread has a new tid, so before a mutex operation its wrapper
// rewrites an owner that is an earlier tid of the calling thread
// (ckpt_threads.h keeps those) to its tid now. Only the owner itself does
// that, so it races with nobody, as long as the number is really its own: the
// kernel reuses tids, and a thread made after the restore (or another restored
// one) may run under an old tid of ours and hold the mutex. A caller about to
// lock therefore adopts only an owner no live thread of the process has; one
// that unlocks or waits on a condition holds the mutex by contract. Robust mutexes were rewritten at restore
// already (their list names them); PI mutexes are left alone: the kernel
// reads their word, and rewriting it under waiters is not safe.
#pragma once

#include <pthread.h>

#include <atomic>

#include "state.h"

namespace vproc::lib {

// Locking: the caller may not hold `m`. Holding: it must (unlock, cond wait).
enum class MutexUse { Locking, Holding };

void adopt_mutex_slow(pthread_mutex_t* m, MutexUse use);

// Cheap unless this process was restored.
inline void adopt_mutex(pthread_mutex_t* m, MutexUse use) {
  if (__builtin_expect(state().ckpt.alias_count.load(std::memory_order_relaxed) != 0, 0) && m)
    adopt_mutex_slow(m, use);
}

}  // namespace vproc::lib
