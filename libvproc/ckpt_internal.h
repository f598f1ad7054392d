// Pieces of the checkpointer shared between its files (not exported).
#pragma once

#include <signal.h>
#include <ucontext.h>

#include <cstddef>
#include <cstdint>

#include "ckpt_state.h"

namespace vproc::lib {

// What the snapshot writer reports to a waiting handler on the sync pipe
// (one write, smaller than PIPE_BUF, so it arrives whole).
struct CkptPipeResult {
  int error;  // 0 or an errno value
  char message[500];
};

inline void copy_cstr(char* out, size_t cap, const char* s) {
  size_t i = 0;
  for (; s && s[i] && i + 1 < cap; ++i) out[i] = s[i];
  if (cap) out[i] = 0;
}

// Not an errno value: the handler left a local request unanswered because
// another thread was checkpointing the process (CkptLocalResult::error).
inline constexpr int kCkptOtherLeader = -2;

// ckpt_handler.cc: records the calling thread as the checkpoint signal
// found it (`uc` is its frame).
void capture_thread(CkptThread& t, const ucontext_t* uc);

// ckpt_handler.cc: where every thread of a restored process comes back from
// vproc_ckpt_save(): the main thread with the restorer's info, the others
// with their record (ckpt_threads.h).
void resumed_after_restore(long resumed);

// ckpt_writer.cc: the snapshot process's whole life. Never returns.
[[noreturn]] void snapshot_main();

// ckpt_restore.cc: per-task and library state a new task lacks.
void finish_restore(const vproc_restore_info* info);
// ckpt_populate.cc: starts the threads that make a lazily restored
// process's pages private copies (image_dev/ino/fd and restore_flags set).
void start_populating(CkptState& c);
// ckpt_populate.cc, in a fork child: populates what the parent had not yet
// (its threads did not come along); nothing if it was done, as it is after
// our fork wrappers (fork_prepare waits for it).
void populate_after_fork(int parent_pid);
// Waits until the threads populating a lazily restored image are done (a
// snapshot must not race them, and stores those pages anyway).
void wait_for_populate(CkptState& c);

// ckpt_signal_guard.cc: the program's view of the checkpoint signal.
void forward_to_program(int sig, siginfo_t* si, void* uc);
int real_sigaction_for_ckpt(int sig, const struct sigaction* sa);
void unblock_ckpt_signal(int sig);

// Queues `sig` with si_code SI_QUEUE and `value` to thread `tid` of this
// process, as the daemon's requests come (ckpt_hooks.cc). 0 or -errno.
long queue_to_thread(int tid, int sig, uint64_t value);

// ckpt_hooks.cc: the C API's callbacks.
void run_checkpoint_callbacks();
void run_restore_callbacks();

}  // namespace vproc::lib
