// The checkpoint signal's handler.
//
// On a request the handler records this thread (registers of the interrupted
// code are in the signal frame; what the frame lacks, PITFALLS 10/7/8/9: FS/GS
// base, clear_child_tid, robust list, rseq) and saves its own callee-saved
// registers with vproc_ckpt_save(). It then freezes itself in a vfork-like
// helper that forks the snapshot: a copy-on-write copy of the whole process,
// which writes the image while we continue (ckpt_writer.cc). The freeze lasts
// the fork plus reading the fd table. When an image is restored, the restorer
// jumps back into vproc_ckpt_save() with the restore info: the handler then
// finishes the restore (ckpt_restore.cc) and returns, and the kernel's
// rt_sigreturn reinstates the interrupted code's registers, FPU/AVX state,
// signal mask and alternate stack from the frame. A migration's checkpoint
// (kCkptMigrate) waits, still frozen, for the verdict (ckpt_migrate.h).
#include "ckpt_handler.h"

#include <asm/prctl.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ckpt_internal.h"
#include "remote_children.h"
#include "ckpt_migrate.h"
#include "ckpt_quiesce.h"
#include "ckpt_retry.h"
#include "ckpt_threads.h"
#include "ckpt_restart.h"
#include "diag.h"
#include "libc_boundary.h"
#include "raw_syscall.h"
#include "state.h"
#include "vtid.h"

extern "C" {
long vproc_ckpt_save(vproc::lib::ResumeRegs* r) __attribute__((returns_twice));
long vproc_ckpt_clone_vfork(void* stack_top);
}

namespace vproc::lib {
namespace {

uint64_t now_ns(clockid_t clock) {
  struct timespec ts {};
  raw::sys(SYS_clock_gettime, clock, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// The frame's FPU area ends with software bytes that say which XSAVE
// components it holds and how big it is (PITFALLS 11): a restore on a CPU
// lacking one of them would have rt_sigreturn reject the frame.
void note_xstate(CkptThread& t, const ucontext_t* uc) {
  const auto* fp = reinterpret_cast<const uint8_t*>(uc->uc_mcontext.fpregs);
  if (!fp) return;
  uint32_t magic1, xstate_size;
  uint64_t xfeatures;
  memcpy(&magic1, fp + 464, 4);
  memcpy(&xfeatures, fp + 472, 8);
  memcpy(&xstate_size, fp + 480, 4);
  if (magic1 != 0x46505853u) return;  // FP_XSTATE_MAGIC1: no xsave data
  t.xfeatures = xfeatures;
  t.xstate_size = xstate_size;
}

}  // namespace

void capture_thread(CkptThread& t, const ucontext_t* uc) {
  t.tid = uint32_t(raw::sys(SYS_gettid));
  t.new_tid = int(t.tid);
  // A thread that never asked for its vtid has none yet.
  t.vtid = t_vtid ? t_vtid : t.tid == uint32_t(raw::sys(SYS_getpid)) ? state().self.value : 0;
  raw::sys(SYS_arch_prctl, ARCH_GET_FS, &t.fs_base);
  raw::sys(SYS_arch_prctl, ARCH_GET_GS, &t.gs_base);
  t.frame = reinterpret_cast<uint64_t>(uc);
  t.ip = uint64_t(uc->uc_mcontext.gregs[REG_RIP]);
  t.sp = uint64_t(uc->uc_mcontext.gregs[REG_RSP]);
  t.bp = uint64_t(uc->uc_mcontext.gregs[REG_RBP]);
  memcpy(&t.sigmask, &uc->uc_sigmask, sizeof t.sigmask);
  t.tid_address = 0;
  raw::sys(SYS_prctl, PR_GET_TID_ADDRESS, &t.tid_address, 0, 0, 0);
  t.robust_list = t.robust_len = 0;
  size_t len = 0;
  void* head = nullptr;
  if (raw::sys(SYS_get_robust_list, 0, &head, &len) == 0) {
    t.robust_list = reinterpret_cast<uint64_t>(head);
    t.robust_len = len;
  }
  // glibc registers one rseq area per thread at TP + __rseq_offset (PITFALLS 8);
  // __rseq_size is 0 when it did not.
  t.rseq_area = 0;
  if (__rseq_size > 0) {
    t.rseq_area = t.fs_base + uint64_t(__rseq_offset);
    t.rseq_len = 32;  // glibc registers 32 bytes even when __rseq_size says 20
    t.rseq_sig = RSEQ_SIG;
  }
  raw::sys(SYS_prctl, PR_GET_NAME, t.comm, 0, 0, 0);
  note_xstate(t, uc);
}

namespace {

// Interval timers are per process but not inherited by fork: the snapshot
// cannot read them, so they are taken here.
void capture_itimers(CkptState& c) {
  for (int which = 0; which < 3; ++which) {
    struct itimerval v {};
    raw::sys(SYS_getitimer, which, &v);
    c.itimers[which][0] = int64_t(v.it_interval.tv_sec) * 1000000 + v.it_interval.tv_usec;
    c.itimers[which][1] = int64_t(v.it_value.tv_sec) * 1000000 + v.it_value.tv_usec;
  }
}

// Thread `tid`'s children, live or zombie (/proc/self/task/TID/children),
// added to c.children.
void note_children(CkptState& c, long tid) {
  char buf[512];
  long len = read_task_file(tid, "children", buf, sizeof buf);
  if (len <= 0) return;
  uint32_t v = 0;
  bool in = false;
  for (long i = 0; i <= len; ++i) {
    if (buf[i] >= '0' && buf[i] <= '9') {
      v = v * 10 + uint32_t(buf[i] - '0');
      in = true;
    } else if (in) {
      if (c.child_count < 8) c.children[c.child_count] = v;
      ++c.child_count;
      v = 0;
      in = false;
    }
  }
}

// Waits for the writer's final report on the sync pipe.
void read_result(CkptState& c, CkptLocalResult& out) {
  CkptPipeResult r{};
  long n;
  do n = raw::sys(SYS_read, c.sync_r, &r, sizeof r);
  while (n == -EINTR);
  if (n != long(sizeof r)) {
    out.error = EIO;
    copy_cstr(out.message, sizeof out.message, "the checkpoint writer died before finishing the image");
    return;
  }
  out.error = r.error;
  copy_cstr(out.message, sizeof out.message, r.message);
}

// Freezes this thread while the snapshot is forked; returns 0 or -errno.
// `migrate`: once the image is complete, wait for the migration's verdict
// (ckpt_migrate.h), which may end or replace this process.
int take_snapshot(CkptState& c, bool wait_result, CkptLocalResult* result, bool migrate) {
  int p[2];
  long r = raw::sys(SYS_pipe2, p, O_CLOEXEC);
  if (r < 0) return int(r);
  c.sync_r = p[0];
  c.sync_w = p[1];
  c.helper_error = 0;
  long m = vproc_ckpt_clone_vfork(c.helper_stack + sizeof c.helper_stack);
  if (m > 0) raw::sys(SYS_wait4, m, nullptr, __WCLONE, nullptr);
  c.frozen_ns = now_ns(CLOCK_MONOTONIC) - c.freeze_start_ns;
  raw::sys(SYS_close, c.sync_w);
  int err = m < 0 ? int(m) : -c.helper_error;
  if (err == 0 && wait_result && result) {
    read_result(c, *result);
    if (result->error) err = -result->error;
  }
  if (err == 0 && migrate) migrate_await_verdict(c.sync_r);
  raw::sys(SYS_close, c.sync_r);
  c.sync_r = c.sync_w = -1;
  return err;
}

}  // namespace

// A restored process's threads come back here from the snapshot (the
// restorer resumes the main thread; it re-creates the others).
void resumed_after_restore(long resumed) {
  CkptState& cs = state().ckpt;
  if (raw::sys(SYS_gettid) != raw::sys(SYS_getpid)) {
    thread_restored(*reinterpret_cast<CkptThread*>(resumed));
    return;
  }
  // Everything here must come from globals: locals of this frame are the
  // values they had when the snapshot's memory was copied.
  finish_restore(reinterpret_cast<const vproc_restore_info*>(resumed));
  remote_children_adopt();  // stand-ins for the children left behind
  cs.local_result.error = 0;
  cs.local_result.message[0] = 0;
  cs.local_result.restored = true;
  run_restore_callbacks();
  release_restored_threads(cs);
}

namespace {

// Stores a request that must wait (ckpt_hooks.cc re-sends it); false if
// the section that made it wait ended meanwhile, and it is to be served now.
bool defer_request(CkptState& c, uint32_t id, uint32_t flags) {
  c.deferred.store(id | (flags << 24) | 0x80000000u, std::memory_order_release);
  // The outermost allow() may have run between the check and the store; if
  // so, nobody will re-send the request: take it back and serve it now.
  return c.critical_depth.load(std::memory_order_acquire) > 0 ||
         c.deferred.exchange(0, std::memory_order_acq_rel) == 0;
}

// The leader's work once the other threads are parked: record itself, take
// the snapshot, and (in the original) let the others go.
void checkpoint_parked(CkptState& c, int self_tid, const ucontext_t* uc) {
  c.child_count = 0;
  for (int i = 0; i < c.thread_count; ++i)
    if (c.quiesce.slot_state[i].load(std::memory_order_acquire) == CkptQuiesce::kParked)
      note_children(c, c.quiesce.slot_tid[i]);
  int self = 0;
  for (int i = 0; i < c.thread_count; ++i)
    if (c.quiesce.slot_tid[i] == self_tid) self = i;
  capture_thread(c.threads[self], uc);
  compact_slots(c);
  for (int i = 0; i < c.thread_count; ++i)
    if (c.quiesce.slot_tid[i] == self_tid) self = i;
  c.task_count = count_tasks();
  capture_itimers(c);

  long resumed = vproc_ckpt_save(&state().ckpt.threads[self].resume);
  if (resumed != 0) {
    resumed_after_restore(resumed);
    return;
  }
  CkptState& cs = state().ckpt;
  bool local = cs.request_id == 0;
  // A migration's checkpoint comes from the daemon, and its verdict rules
  // out --stop.
  bool migrate = !local && (cs.request_flags & kCkptMigrate);
  bool stop = !migrate && (cs.request_flags & kCkptStop);
  cs.local_result.restored = false;
  int err = take_snapshot(cs, local || stop || migrate, &cs.local_result, migrate);
  if (local) cs.local_result.error = err ? -err : 0;
  // --stop: the image is the process's continuation, so nothing may run
  // after the snapshot; SIGSTOP cannot be blocked, and stops every thread
  // (the parked ones included) before we release them.
  if (stop && err == 0) raw::sys(SYS_kill, raw::sys(SYS_getpid), SIGSTOP);
}

// The leader gave up its role (quiesce_threads() -EAGAIN, everybody
// released): the request comes back by timer once this handler has returned.
// False if no timer could be had (then the refusal below is reported).
bool step_aside_for_retry(CkptState& c, int sig, uint64_t value) {
  if (arm_ckpt_retry(c, sig, value, kCkptRetryDelayNs)) return true;
  copy_cstr(c.quiesce_refusal, sizeof c.quiesce_refusal,
            "a thread blocked the checkpoint signal, and no timer was left to try again (timer_create)");
  return false;
}

void handler(int sig, siginfo_t* si, void* ucv) {
  int saved_errno = errno;
  CkptState& c = state().ckpt;
  uint64_t value = si ? uint64_t(reinterpret_cast<uintptr_t>(si->si_value.sival_ptr)) : 0;
  if (si && si->si_code == SI_QUEUE && is_park_value(value) && si->si_pid == raw::sys(SYS_getpid)) {
    park_thread(c, value, ucv);  // another thread is checkpointing us
    errno = saved_errno;
    return;
  }
  // Our own timer bringing back a request whose leader stepped aside.
  const bool retry = take_ckpt_retry(c, si);
  if (!si || (si->si_code != SI_QUEUE && !retry) || !is_ckpt_request_value(value)) {
    forward_to_program(sig, si, ucv);  // the program's own use of this signal
    errno = saved_errno;
    return;
  }
  note_ckpt_interruption(ucv);  // a sleep or wait it cut short goes on (ckpt_restart.h)
  uint32_t id = uint32_t(value & 0xffffff), flags = uint32_t((value >> 24) & 0xff);
  if (c.critical_depth.load(std::memory_order_acquire) > 0 && !defer_request(c, id, flags)) {
    errno = saved_errno;
    return;
  }
  const int self_tid = int(raw::sys(SYS_gettid));
  int idle = 0;
  if (!c.quiesce.leader.compare_exchange_strong(idle, self_tid, std::memory_order_acq_rel)) {
    // Another thread is checkpointing the process (and will park us as soon
    // as we return). It serves the daemon's request when it is done; the C
    // API's caller asks again (ckpt_hooks.cc).
    if (id == 0)
      c.local_result.error = kCkptOtherLeader;
    else
      c.quiesce.waiting_request.store(value, std::memory_order_release);
    errno = saved_errno;
    return;
  }
  wait_for_populate(c);
  if (!retry) {
    run_checkpoint_callbacks();  // once per request
    c.quiesce.deadline_ns = int64_t(now_ns(CLOCK_MONOTONIC)) + kParkTimeoutNs;
  }
  remote_children_note();  // the children a migration leaves behind
  c.request_id = id;
  c.request_flags = flags;
  // The executable, while the kernel still names it right (a restored
  // process keeps the one its image recorded).
  if (c.generation == 0) {
    long n = raw::sys(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", c.exe_path, sizeof c.exe_path - 1);
    c.exe_path[n > 0 ? n : 0] = 0;
  }
  int self_slot = 0;
  // The other threads stop from here on: their freeze counts from now.
  c.freeze_start_ns = now_ns(CLOCK_MONOTONIC);
  // A daemon's request steps aside when a thread blocking the signal may wait
  // for a lock we hold (ckpt_retry.h). vproc_checkpoint()'s caller is in our
  // code, holding nothing: it waits here.
  const bool step_aside = id != 0;
  int qerr = quiesce_threads(c, sig, self_tid, &self_slot, c.quiesce.deadline_ns, step_aside, c.quiesce_refusal,
                             sizeof c.quiesce_refusal);
  if (qerr == -EAGAIN && step_aside && step_aside_for_retry(c, sig, value)) {
    errno = saved_errno;
    return;
  }
  if (qerr == 0 && c.critical_depth.load(std::memory_order_acquire) > 0) {
    // A thread entered a section without checkpoints before it parked.
    release_threads(c);
    if (!defer_request(c, id, flags)) {
      errno = saved_errno;
      return;
    }
    c.quiesce.leader.store(self_tid, std::memory_order_release);
    qerr = quiesce_threads(c, sig, self_tid, &self_slot, c.quiesce.deadline_ns, step_aside, c.quiesce_refusal,
                           sizeof c.quiesce_refusal);
    if (qerr == -EAGAIN && step_aside && step_aside_for_retry(c, sig, value)) {
      errno = saved_errno;
      return;
    }
  }
  if (qerr == 0) c.quiesce_refusal[0] = 0;
  if (qerr != 0) {
    // The snapshot's writer reports the refusal (as any other) to whoever
    // asked; it finds only this thread recorded.
    c.thread_count = 1;
    c.quiesce.slot_tid[0] = self_tid;
    c.quiesce.slot_state[0].store(CkptQuiesce::kParked, std::memory_order_release);
    c.quiesce.leader.store(self_tid, std::memory_order_release);
  }
  checkpoint_parked(c, self_tid, static_cast<const ucontext_t*>(ucv));
  CkptState& cs = state().ckpt;
  if (raw::sys(SYS_gettid) == self_tid && cs.quiesce.leader.load(std::memory_order_acquire) == self_tid) {
    release_threads(cs);
    // A request that reached another thread meanwhile: ours again, once the
    // handler returns (everything is blocked until then).
    if (uint64_t w = cs.quiesce.waiting_request.exchange(0, std::memory_order_acq_rel))
      queue_to_thread(self_tid, sig, w);
  }
  errno = saved_errno;
}

}  // namespace

int ckpt_signal_number() {
  // Decided before the daemon hears of us (hello() runs before ckpt_install).
  int sig = parse_ckpt_signal(getenv("VPROC_CKPT_SIGNAL"));
  return sig > 0 ? sig : 0;
}

int ckpt_install() {
  CkptState& c = state().ckpt;
  int sig = parse_ckpt_signal(getenv("VPROC_CKPT_SIGNAL"));
  if (sig < 0) {
    diag({"VPROC_CKPT_SIGNAL must be a signal number (1-64, not 9, 19, 32, 33) or 0; "
          "checkpointing is disabled in this process"});
    return 0;
  }
  if (sig == 0) return 0;
  migrate_find_shadow(c, state().lib_path);
  // Through libc for SA_RESTORER (PITFALLS 12); all signals blocked while it runs;
  // SA_RESTART so a restarted read/waitpid does not see EINTR.
  struct sigaction sa {};
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  if (real_sigaction_for_ckpt(sig, &sa) != 0) return 0;
  c.signo = sig;
  unblock_ckpt_signal(sig);
  return sig;
}

}  // namespace vproc::lib
