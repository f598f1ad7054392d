// The checkpointing part of the public C API (include/vproc/vproc.h): taking a
// checkpoint of oneself, callbacks around checkpoint and restore, and
// sections in which no checkpoint may be taken.
//
// A checkpoint is always taken by the checkpoint signal's handler
// (ckpt_handler.cc); vproc_checkpoint() sends that signal to its own thread.
// rt_tgsigqueueinfo to oneself with the signal unblocked is delivered on the
// way back from that very system call, so the handler has finished (and the
// outcome is in CkptState::local_result) when the call returns.
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>

#include "ckpt_handler.h"
#include "ckpt_internal.h"
#include "ckpt_signal_guard.h"
#include "diag.h"
#include "libc_boundary.h"
#include "raw_syscall.h"
#include "state.h"
#include "vproc/vproc.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

namespace {

using Callback = void (*)(void*);

// Set while callbacks run: they are inside the handler, where a checkpoint
// of their own cannot be taken.
__thread bool t_in_callbacks __attribute__((tls_model("initial-exec"))) = false;

// A request the handler deferred (ckpt_handler.cc's encoding of `deferred`).
constexpr uint32_t kDeferred = 0x80000000u;
constexpr uint32_t deferred_value(uint32_t id, uint32_t flags) { return id | (flags << 24) | kDeferred; }

// Not a real errno value: "the handler has not answered".
constexpr int kNoAnswer = -1;

int add_callback(CkptCallback* list, std::atomic<int>& count, Callback fn, void* arg) {
  if (!fn) return fail_errno(EINVAL);
  int i = count.load(std::memory_order_acquire);
  do {
    if (i >= kMaxCkptCallbacks) return fail_errno(ENOMEM);
  } while (!count.compare_exchange_weak(i, i + 1, std::memory_order_acq_rel));
  list[i].arg = arg;
  list[i].fn.store(reinterpret_cast<uintptr_t>(fn), std::memory_order_release);
  return 0;
}

void run_callbacks(CkptCallback* list, std::atomic<int>& count) {
  t_in_callbacks = true;
  int n = count.load(std::memory_order_acquire);
  for (int i = 0; i < n && i < kMaxCkptCallbacks; ++i) {
    uintptr_t fn = list[i].fn.load(std::memory_order_acquire);
    if (fn) reinterpret_cast<Callback>(fn)(list[i].arg);  // 0: still being registered
  }
  t_in_callbacks = false;
}

}  // namespace

long vproc::lib::queue_to_thread(int tid, int sig, uint64_t value) {
  siginfo_t si{};
  si.si_signo = sig;
  si.si_code = SI_QUEUE;
  si.si_pid = pid_t(raw::sys(SYS_getpid));
  si.si_uid = uid_t(raw::sys(SYS_getuid));
  si.si_value.sival_ptr = reinterpret_cast<void*>(uintptr_t(value));
  return raw::sys(SYS_rt_tgsigqueueinfo, si.si_pid, tid, sig, &si);
}

namespace {

// The checkpoint signal with a request `value`, to the calling thread, with
// the signal unblocked for the moment the kernel delivers it.
void send_request(int sig, uint64_t value) {
  uint64_t b = sig_bit(sig), before = 0;
  raw::sys(SYS_rt_sigprocmask, SIG_UNBLOCK, &b, &before, sizeof b);
  queue_to_thread(int(raw::sys(SYS_gettid)), sig, value);
  if (before & b) raw::sys(SYS_rt_sigprocmask, SIG_BLOCK, &b, nullptr, sizeof b);
}

// PATH, relative to the working directory unless absolute, into `out`.
int absolute_path(const char* path, char* out, size_t cap) {
  if (!path || !*path) return -ENOENT;
  size_t n = 0;
  if (path[0] != '/') {
    long r = raw::sys(SYS_getcwd, out, cap);
    if (r == -ERANGE) return -ENAMETOOLONG;
    if (r < 0) return int(r);
    if (out[0] != '/') return -ENOENT;  // "(unreachable)": the directory is not in our root
    while (out[n]) ++n;
    if (n > 1) out[n++] = '/';
  }
  for (size_t i = 0; path[i]; ++i) {
    if (n + 1 >= cap) return -ENAMETOOLONG;
    out[n++] = path[i];
  }
  out[n] = 0;
  return 0;
}

// ckpt_self(), also telling whether this is the restored process.
int checkpoint_self(const char* path, uint32_t flags, char* message, unsigned cap, bool* restored) {
  CkptState& c = state().ckpt;
  int sig = c.signo;
  if (restored) *restored = false;
  if (!sig || !active()) {
    copy_cstr(message, cap, sig ? "checkpointing needs vproc: this process runs without a vproc daemon"
                                : "checkpointing is not available in this process (no vproc daemon, "
                                  "or VPROC_CKPT_SIGNAL=0)");
    return -ENOSYS;
  }
  if (t_in_callbacks) {
    copy_cstr(message, cap, "a checkpoint cannot be taken from a checkpoint or restore callback");
    return -EDEADLK;
  }
  if (c.critical_depth.load(std::memory_order_acquire) > 0) {
    copy_cstr(message, cap, "checkpointing is forbidden at the moment (vproc_checkpoint_forbid)");
    return -EBUSY;
  }
  int tid = int(raw::sys(SYS_gettid)), idle = 0;
  if (!c.callbacks.self_tid.compare_exchange_strong(idle, tid, std::memory_order_acq_rel)) {
    copy_cstr(message, cap, "another thread is taking a checkpoint with vproc_checkpoint()");
    return -EBUSY;
  }
  int err = absolute_path(path, c.local_path, sizeof c.local_path);
  if (err) {
    copy_cstr(message, cap, "the image path cannot be made absolute");
  } else {
    // Another thread's checkpoint parks us once the request returns; ours
    // goes again after it (a millisecond apart, a few seconds at most).
    for (int tries = 0; tries < 5000; ++tries) {
      c.local_result.error = kNoAnswer;
      c.local_result.message[0] = 0;
      send_request(sig, ckpt_request_value(0, flags));
      if (c.local_result.error != kCkptOtherLeader) break;
      struct timespec ms = {0, 1000000};
      raw::sys(SYS_nanosleep, &ms, nullptr);
    }
    if (c.local_result.error == kCkptOtherLeader) {
      copy_cstr(c.local_result.message, sizeof c.local_result.message,
                "another thread kept checkpointing the process");
      c.local_result.error = EBUSY;
    }
    // Here in the process that took the checkpoint, and in the restored one.
    const CkptLocalResult& res = c.local_result;
    if (res.error == kNoAnswer) {
      // Deferred: a forbidden section began on another thread meanwhile.
      uint32_t mine = deferred_value(0, flags);
      c.deferred.compare_exchange_strong(mine, 0, std::memory_order_acq_rel);
      copy_cstr(message, cap, "checkpointing is forbidden at the moment (vproc_checkpoint_forbid)");
      err = -EBUSY;
    } else if (res.error) {
      copy_cstr(message, cap, res.message[0] ? res.message : errno_text(res.error));
      err = -res.error;
    } else if (restored) {
      *restored = res.restored;
    }
  }
  c.callbacks.self_tid.store(0, std::memory_order_release);  // a restored thread has another tid
  return err;
}

}  // namespace

namespace vproc::lib {

int ckpt_self(const char* path, uint32_t flags, char* message, unsigned message_cap) {
  return checkpoint_self(path, flags, message, message_cap, nullptr);
}

void run_checkpoint_callbacks() {
  CkptCallbacks& cb = state().ckpt.callbacks;
  run_callbacks(cb.checkpoint, cb.checkpoint_count);
}

void run_restore_callbacks() {
  CkptCallbacks& cb = state().ckpt.callbacks;
  run_callbacks(cb.restore, cb.restore_count);
}

}  // namespace vproc::lib

VPROC_EXPORT int vproc_checkpoint(const char* path) noexcept {
  CkptCallbacks& cb = state().ckpt.callbacks;
  char message[sizeof cb.last_error];
  bool restored = false;
  int r = checkpoint_self(path, 0, message, sizeof message, &restored);
  if (r < 0) {
    copy_cstr(cb.last_error, sizeof cb.last_error, message);
    return fail_errno(r);
  }
  return restored ? 1 : 0;
}

VPROC_EXPORT const char* vproc_checkpoint_error(void) noexcept { return state().ckpt.callbacks.last_error; }

VPROC_EXPORT int vproc_at_checkpoint(void (*fn)(void*), void* arg) noexcept {
  CkptCallbacks& cb = state().ckpt.callbacks;
  return add_callback(cb.checkpoint, cb.checkpoint_count, fn, arg);
}

VPROC_EXPORT int vproc_at_restore(void (*fn)(void*), void* arg) noexcept {
  CkptCallbacks& cb = state().ckpt.callbacks;
  return add_callback(cb.restore, cb.restore_count, fn, arg);
}

VPROC_EXPORT void vproc_checkpoint_forbid(void) noexcept {
  state().ckpt.critical_depth.fetch_add(1, std::memory_order_acq_rel);
}

VPROC_EXPORT void vproc_checkpoint_allow(void) noexcept {
  CkptState& c = state().ckpt;
  int depth = c.critical_depth.load(std::memory_order_acquire);
  do {
    if (depth <= 0) return;  // unbalanced: ignored
  } while (!c.critical_depth.compare_exchange_weak(depth, depth - 1, std::memory_order_acq_rel));
  if (depth > 1 || !c.signo) return;
  // The outermost section ended: the request that came during it is served now.
  uint32_t d = c.deferred.exchange(0, std::memory_order_acq_rel);
  if (d & kDeferred) send_request(c.signo, ckpt_request_value(d & 0xffffff, (d >> 24) & 0x7f));
}
