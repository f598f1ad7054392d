// Stopping every thread of the process for a checkpoint, from inside
// (PITFALLS 14).
//
// The thread the checkpoint request reached leads: it queues the checkpoint
// signal, with a "park" value, to every other task in /proc/self/task. Each
// parks in the handler: it records itself (registers in its signal frame, FS
// base, kernel registrations) in its slot of CkptState::threads and sleeps on
// a futex. The leader enumerates again until no new task appears and all it
// signalled have parked or are gone. Then nothing but the leader runs, and the
// copy-on-write snapshot holds every thread at a known place. The signal is a
// real-time one, so park requests queue rather than merge; the handler blocks
// all signals, so a parked thread takes nothing else until it is released.
//
// Slot 0 is the main thread (the restorer resumes it; it re-creates the
// others, ckpt_threads.h). Async-signal-safe throughout.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ckpt_state.h"

namespace vproc::lib {

// How long the leader waits for a thread to park: a thread suspended in
// vfork() or in uninterruptible sleep takes no signal until it comes back.
inline constexpr int64_t kParkTimeoutNs = 5'000'000'000;

// si_value of a park request: a tag, the round and the slot.
constexpr uint64_t park_value(uint32_t round, int slot) {
  return (uint64_t(0x5643504bu) << 32) | (uint64_t(round & 0xffff) << 16) | uint64_t(slot & 0xffff);
}
constexpr bool is_park_value(uint64_t v) { return (v >> 32) == 0x5643504bu; }

// Leader: parks every other thread; on success fills c.thread_count, the
// slots' tids, and the leader's own slot (*self_slot; the leader records
// itself). On failure (-errno) every parked thread is released and `why`
// says which thread did not stop (-ETIMEDOUT once `deadline`, CLOCK_MONOTONIC
// ns, passes). A thread that blocks the signal may wait for a lock a parked
// thread, or the leader, holds: with `step_aside` the leader then gives up
// its role and returns -EAGAIN (to try again after its handler has returned,
// ckpt_retry.h); without, it releases everybody for 2 ms and tries again.
int quiesce_threads(CkptState& c, int sig, int self_tid, int* self_slot, int64_t deadline, bool step_aside,
                    char* why, size_t cap);

// Reads /proc/self/task/TID/NAME into buf (NUL-terminated, at most cap - 1
// bytes): its length, or -errno.
long read_task_file(long tid, const char* name, char* buf, size_t cap);

// The kernel tasks of this process (/proc/self/task); 0 if unreadable.
int count_tasks();

// Leader: lets the parked threads go on (after the snapshot, or after a
// failure past quiesce_threads).
void release_threads(CkptState& c);

// Leader: drops the slots of threads that exited while being parked, so
// c.threads[0, thread_count) are the threads of the image, [0] the main one.
void compact_slots(CkptState& c);

// The handler, for a park request; returns when released. In a restored
// process a re-created thread comes back here and goes on in
// thread_restored() (ckpt_threads.h).
void park_thread(CkptState& c, uint64_t value, void* ucontext);

}  // namespace vproc::lib
