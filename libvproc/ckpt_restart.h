// Blocking calls that a checkpoint must not cut short (PITFALLS 16).
//
// The checkpoint signal's handler has SA_RESTART, but the kernel restarts only
// calls that end in -ERESTARTSYS. Sleeps and waits with a timeout (nanosleep,
// poll, select, epoll_wait, sigtimedwait, timed futex waits), pause and
// sigsuspend end in -ERESTARTNOHAND, -ERESTART_RESTARTBLOCK or plain -EINTR,
// which become EINTR as soon as any handler runs. The restored process resumes
// through the same signal return, so it sees that EINTR too.
//
// So the handler counts, per thread, the checkpoint requests that cut a system
// call short with EINTR (note_ckpt_interruption), and the wrappers of these
// calls call again when their EINTR came with a change of that count. An EINTR
// from anything else (the program's own signals) still reaches the program.
// A timeout goes on with the time that was left when the checkpoint came: the
// checkpoint itself, and the time between a checkpoint and a restore (whose
// CLOCK_MONOTONIC may count from another boot), do not count, as the kernel's
// remaining time of an interrupted nanosleep does not count them either.
#pragma once

#include <errno.h>
#include <time.h>

#include <cstdint>

namespace vproc::lib {

// Checkpoint requests that interrupted a system call of this thread with
// EINTR, and CLOCK_MONOTONIC (ns) when the last one did. Initial-exec TLS:
// written by the handler.
extern __thread uint32_t t_ckpt_interruptions __attribute__((tls_model("initial-exec")));
extern __thread int64_t t_ckpt_interrupted_ns __attribute__((tls_model("initial-exec")));

// The checkpoint handler calls this for every checkpoint request, before the
// snapshot (so that the restored process has the count too). `ucontext` is
// the signal frame's: its RAX says whether a system call returns EINTR.
void note_ckpt_interruption(const void* ucontext);

inline uint32_t ckpt_interruptions() { return __atomic_load_n(&t_ckpt_interruptions, __ATOMIC_RELAXED); }

// The timeout of a call being restarted after checkpoints. Until the first
// checkpoint the call gets the program's own timeout (the kernel validates
// it); after one, what was left of it.
class CkptTimeout {
 public:
  CkptTimeout() : ts_(nullptr) {}                        // no timeout
  explicit CkptTimeout(const struct timespec* program);  // null: no timeout
  explicit CkptTimeout(int program_ms);                  // poll's: negative, no timeout
  CkptTimeout(const CkptTimeout&) = delete;  // ts() may point into the object
  CkptTimeout& operator=(const CkptTimeout&) = delete;

  const struct timespec* ts() const { return ts_; }
  int ms() const { return ms_; }
  // A checkpoint cut the call short: the time up to it is spent.
  void after_checkpoint();

 private:
  void start(int64_t total_ns);
  const struct timespec* ts_;
  int ms_ = -1;
  int64_t left_ns_ = -1;  // -1: no timeout
  int64_t start_ns_ = -1;  // CLOCK_MONOTONIC of the attempt's start; -1: not read
  struct timespec own_ {};
};

// Calls `call()` again while it fails with EINTR caused by a checkpoint. For
// libc functions (-1 and errno); errno is the program's again before each
// new attempt, so a call that ends well leaves it as it was.
template <typename Call>
auto restart_libc(CkptTimeout& timeout, Call call) {
  int saved_errno = errno;
  for (;;) {
    uint32_t before = ckpt_interruptions();
    auto r = call();
    if (r != -1 || errno != EINTR || ckpt_interruptions() == before) return r;
    errno = saved_errno;
    timeout.after_checkpoint();
  }
}

template <typename Call>
auto restart_libc(Call call) {
  CkptTimeout none;
  return restart_libc(none, call);
}

// The same for system calls (results -errno).
template <typename Call>
long restart_sys(CkptTimeout& timeout, Call call) {
  for (;;) {
    uint32_t before = ckpt_interruptions();
    long r = call();
    if (r != -EINTR || ckpt_interruptions() == before) return r;
    timeout.after_checkpoint();
  }
}
template <typename Call>
long restart_sys(Call call) {
  CkptTimeout none;
  return restart_sys(none, call);
}

}  // namespace vproc::lib
