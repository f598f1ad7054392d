// What the checkpointer keeps in the process (a member of ProcessState, the
// library's one singleton): the request being served, each thread's registers
// and kernel registrations captured by the checkpoint handler, the snapshot
// helper's stack, and what the last restore left to clean up.
#pragma once

#include <linux/limits.h>

#include <atomic>
#include <cstdint>

#include "ckpt_guard_state.h"
#include "ckpt_request.h"
#include "ckpt_scratch.h"
#include "restore_plan.h"
#include "zero_fd.h"

namespace vproc::lib {

// The handler's callee-saved registers; layout known to ckpt_context.S.
struct ResumeRegs {
  uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};

// One thread as the checkpoint handler found it.
struct CkptThread {
  uint32_t tid = 0, vtid = 0;
  uint64_t fs_base = 0, gs_base = 0;
  ResumeRegs resume{};
  uint64_t frame = 0;  // the interrupted code's ucontext_t
  uint64_t ip = 0, sp = 0, bp = 0, sigmask = 0;
  uint64_t tid_address = 0, robust_list = 0, robust_len = 0;
  uint64_t rseq_area = 0;
  uint32_t rseq_len = 0, rseq_sig = 0;
  char comm[16] = {};      // the thread's name (PR_GET_NAME)
  uint64_t xfeatures = 0;  // from the frame's sw_reserved
  uint32_t xstate_size = 0;
  int new_tid = 0;  // after a restore: the task that continues it
};

// Threads of the process while one of them checkpoints it (ckpt_quiesce.h):
// the leader parks the others in the checkpoint handler, so the snapshot
// holds every thread stopped at a known place, and releases them afterwards.
struct CkptQuiesce {
  static constexpr int kMaxThreads = 512;
  enum SlotState : int { kSent = 0, kParked = 1, kGone = 2 };
  std::atomic<int> leader{0};      // real tid of the thread checkpointing us, 0: none
  std::atomic<uint32_t> round{0};  // park requests carry it: a late one is ignored
  std::atomic<int> parked{0};      // futex: threads parked in this round
  std::atomic<uint32_t> release{0};  // futex: bumped to let the parked ones go
  std::atomic<int> slot_state[kMaxThreads] = {};
  int slot_tid[kMaxThreads] = {};
  // A request that came to another thread while one led (served after).
  std::atomic<uint64_t> waiting_request{0};
  // A daemon's request whose leader stepped aside (ckpt_retry.h): a timer
  // brings it back, and its refusal deadline counts from its first attempt.
  int64_t deadline_ns = 0;
  std::atomic<bool> retry_armed{false};
  int retry_timer = 0;  // the kernel's timer id, while retry_armed
  int retry_pid = 0;    // the process that armed it (a fork child has no such timer)
  // Restore: the re-created threads report in, then wait for the main thread.
  std::atomic<int> arrived{0};
  std::atomic<uint32_t> restore_release{0};
};

// A thread's earlier kernel tids (from before restores) and the one it has
// now: glibc records owners of mutexes by tid (ckpt_threads.h).
struct TidAlias {
  int old_tid, tid;
};


// Where a checkpoint's outcome goes when no daemon asked for it (the C API).
struct CkptLocalResult {
  int error = 0;  // 0 or an errno value
  bool restored = false;  // this is the restored process, resuming
  char message[256] = {};
};

struct CkptState {
  int signo = 0;  // 0: checkpointing unavailable in this process
  // The program's own disposition for signo (we keep the real one).
  std::atomic<uintptr_t> user_handler{0};
  uint64_t user_flags = 0, user_mask = 0;

  // The request being served (set by the handler from si_value, read by the
  // snapshot writer from its copy of memory).
  uint32_t request_id = 0;  // 0: local request (path below)
  uint32_t request_flags = 0;
  char local_path[PATH_MAX] = {};

  // Checkpoint requests that arrived inside vproc_ckpt_forbid() sections.
  std::atomic<int> critical_depth{0};
  std::atomic<uint32_t> deferred{0};  // 0x80000000 | flags << 24 | request id, or 0

  // The program's view of signo (ckpt_signal_guard.h) and the C API's
  // registrations (ckpt_hooks.cc).
  CkptSignalGuard guard;
  CkptCallbacks callbacks;

  // Captured by the handler before the snapshot.
  CkptThread threads[CkptQuiesce::kMaxThreads];  // [0]: the main thread
  int thread_count = 0;
  CkptQuiesce quiesce;
  char quiesce_refusal[400] = {};  // why the threads could not be stopped, "" if they were
  static constexpr int kMaxAliases = 1024;
  TidAlias aliases[kMaxAliases] = {};
  std::atomic<int> alias_count{0};  // nonzero only after a restore with threads
  int task_count = 0;  // kernel tasks of the process at the checkpoint
  // Its threads' children (live or not yet waited for) at the checkpoint: they are not
  // part of an image, and a restored parent could not wait for them.
  int child_count = 0;
  uint32_t children[8] = {};  // the first few, real pids
  int64_t itimers[3][2] = {};  // interval_us, value_us for REAL, VIRTUAL, PROF
  uint64_t frozen_ns = 0;      // of the previous checkpoint (reported in the next)
  uint64_t freeze_start_ns = 0;
  ZeroFd sync_r, sync_w;  // snapshot writer -> handler
  int helper_error = 0;
  CkptLocalResult local_result;  // of the last local (C API) request

  // The program's executable as /proc/self/exe named it at the first
  // checkpoint; after a restore the kernel may name the restorer instead.
  char exe_path[PATH_MAX] = {};
  // vproc-shadow, which the process becomes when it migrates away from its
  // home node (ckpt_migrate.h); found at library init, "" if unknown.
  char shadow_path[PATH_MAX] = {};

  // The children recorded as not yet reaped when the image was taken (their
  // kernel children were gone already), kept by the restore for the wait()
  // that reaped one just then (ckpt_handler.h child_before_restore).
  static constexpr int kMaxEarlierChildren = 64;
  uint32_t earlier_children[kMaxEarlierChildren][2] = {};  // vpid, real
  int earlier_child_count = 0;

  // Left by the last restore (ckpt_restore.cc).
  uint32_t generation = 0;
  uint64_t image_dev = 0, image_ino = 0;  // mappings of this inode are ours to store
  // The threads populating a lazy restore (ckpt_populate.cc); a tid is 0 when
  // that thread is done. The first of them to run lists the work (units, in
  // its scratch), sets populate_ready to 1 and wakes the others; each then
  // takes the next unit until none is left.
  static constexpr int kMaxPopulate = 4;
  std::atomic<int> populate_tid[kMaxPopulate] = {};
  std::atomic<int> populate_next{0}, populate_left{0};
  std::atomic<int> populate_ready{0}, populate_unit_next{0};
  int populate_count = 0;
  const struct PopulateUnit* populate_units = nullptr;
  int populate_unit_count = 0;
  Scratch populate_scratch;
  // In a fork child populating its own pages (ckpt_populate.cc): the
  // inherited descriptor of the image, whose lease the parent's threads
  // release when done, and those threads, to tell if they are.
  ZeroFd inherited_image_fd;
  int parent_populate_pid = 0;
  int parent_populate_tid[kMaxPopulate] = {};
  ZeroFd image_fd;
  uint32_t restore_flags = 0;

  // Stack of the vfork-like helper that creates the snapshot (it shares our
  // memory, so it needs its own stack; nothing else runs on it).
  alignas(64) char helper_stack[32 * 1024] = {};
  alignas(64) char populate_stack[kMaxPopulate][16 * 1024] = {};
};

}  // namespace vproc::lib
