// A checkpoint request that comes back a moment later.
//
// A thread that exits, or one inside pthread_create, runs with every signal
// blocked (glibc), and may wait there for a glibc lock: the stack cache lock,
// the loader's lock. If the thread that took the daemon's request holds that
// lock (it was interrupted inside pthread_join or dlopen), waiting in the
// handler never ends: the lock is released only when the handler returns.
// So the leader lets everybody go, returns, and a one-shot POSIX timer sends
// the same request again (SI_TIMER, process-directed) a few milliseconds
// later. The refusal deadline counts from the first attempt.
// Async-signal-safe (raw syscalls).
#pragma once

#include <signal.h>

#include <cstdint>

#include "ckpt_state.h"

namespace vproc::lib {

// Long enough for the interrupted code to leave a short critical section.
inline constexpr int64_t kCkptRetryDelayNs = 2'000'000;

// Arms the timer to deliver `sig` with si_value `value` after `delay_ns`;
// false if the kernel refused a timer (the caller then waits in the handler).
bool arm_ckpt_retry(CkptState& c, int sig, uint64_t value, int64_t delay_ns);

// Is `si` our timer's signal (in this process)?
bool is_ckpt_retry(const CkptState& c, const siginfo_t* si);

// When `si` is our timer's signal: deletes the timer and returns true.
bool take_ckpt_retry(CkptState& c, const siginfo_t* si);

}  // namespace vproc::lib
