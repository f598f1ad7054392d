#include "ckpt_threads.h"

#include <asm/prctl.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <cstring>

#include "diag.h"
#include "raw_syscall.h"
#include "state.h"

extern "C" long vproc_ckpt_clone_resume(unsigned long flags, const vproc::lib::ResumeRegs* regs, uint64_t tls,
                                        int* tid_address, long value);

namespace vproc::lib {
namespace {

// clone() flags of a thread as glibc creates them, the TLS given explicitly.
constexpr unsigned long kThreadFlags = 0x00010000 /* THREAD */ | 0x00000800 /* SIGHAND */ |
                                       0x00000100 /* VM */ | 0x00000200 /* FS */ | 0x00000400 /* FILES */ |
                                       0x00040000 /* SYSVSEM */ | 0x00080000 /* SETTLS */;
constexpr unsigned long kTidFlags = 0x00100000 /* PARENT_SETTID */ | 0x00200000 /* CHILD_CLEARTID */;

// Reads `n` bytes at `addr` of our own memory without faulting on a bad
// pointer (a robust list is the program's data).
bool peek(uint64_t addr, void* out, size_t n) {
  struct iovec local {
    out, n
  };
  struct iovec remote {
    reinterpret_cast<void*>(addr), n
  };
  return raw::sys(SYS_process_vm_readv, raw::sys(SYS_getpid), &local, 1, &remote, 1, 0) == long(n);
}

// glibc's robust mutexes hold their owner's tid in the futex word (which the
// kernel reads when the owner dies: FUTEX_OWNER_DIED) and in __owner, 8 bytes
// after it. Those this thread held at the checkpoint are on its robust list.
void adopt_robust_list(uint64_t head, int old_tid, int tid) {
  if (!head || old_tid == tid) return;
  uint64_t first = 0;
  int64_t offset = 0;
  if (!peek(head, &first, 8) || !peek(head + 8, &offset, 8)) return;
  uint64_t entry = first;
  for (int n = 0; entry && entry != head && n < 4096; ++n) {
    auto* word = reinterpret_cast<std::atomic<uint32_t>*>(entry + uint64_t(offset));
    uint32_t v;
    if (!peek(entry + uint64_t(offset), &v, 4)) return;
    if ((v & FUTEX_TID_MASK) == uint32_t(old_tid)) {
      while (!word->compare_exchange_weak(v, (v & ~uint32_t(FUTEX_TID_MASK)) | uint32_t(tid)) &&
             (v & FUTEX_TID_MASK) == uint32_t(old_tid)) {
      }
      auto* owner = reinterpret_cast<int*>(entry + uint64_t(offset) + 8);
      if (*owner == old_tid) *owner = tid;
    }
    if (!peek(entry, &entry, 8)) return;
  }
}

// After re-creating the threads: each thread's checkpoint-time tid leads to
// its new one. Earlier restores' entries that led to a checkpoint-time tid
// are carried along; an earlier entry with the same old number gives way
// (the number means this generation's thread now). Done in one pass after
// all clones: a new tid may equal another thread's old one.
void update_aliases(CkptState& c) {
  int n = c.alias_count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < c.thread_count; ++k)
      if (c.aliases[i].tid == int(c.threads[k].tid)) {
        c.aliases[i].tid = c.threads[k].new_tid;
        break;
      }
  for (int k = 0; k < c.thread_count; ++k) {
    const CkptThread& t = c.threads[k];
    int old_tid = int(t.tid);
    if (old_tid == t.new_tid) continue;
    int j = 0;
    while (j < n && c.aliases[j].old_tid != old_tid) ++j;
    if (j < n) {
      c.aliases[j].tid = t.new_tid;
    } else if (n < CkptState::kMaxAliases) {
      c.aliases[n++] = {old_tid, t.new_tid};
    }
  }
  c.alias_count.store(n, std::memory_order_release);
}

void die(const char* what, long err) {
  diag({"restore: cannot re-create a thread of the process (", what, "): ", errno_text(int(-err)),
        "; the restored process cannot go on"});
  raw::sys(SYS_exit_group, 70);  // EX_SOFTWARE
}

}  // namespace

void reregister_thread(const CkptThread& t, long tid) {
  if (t.tid_address) {
    raw::sys(SYS_set_tid_address, t.tid_address);
    // glibc caches the tid in its thread descriptor (pthread_kill,
    // pthread_cancel, mutex owners of this thread from now on).
    *reinterpret_cast<int*>(t.tid_address) = int(tid);
  }
  if (t.robust_list) {
    raw::sys(SYS_set_robust_list, t.robust_list, t.robust_len);
    adopt_robust_list(t.robust_list, int(t.tid), int(tid));
  }
  if (t.rseq_area) {
    auto* r = reinterpret_cast<struct rseq*>(t.rseq_area);
    r->cpu_id_start = 0;
    r->cpu_id = uint32_t(RSEQ_CPU_ID_UNINITIALIZED);
    r->rseq_cs = 0;
    raw::sys(SYS_rseq, t.rseq_area, t.rseq_len, 0, t.rseq_sig);
  }
  if (t.gs_base) raw::sys(SYS_arch_prctl, ARCH_SET_GS, t.gs_base);
  raw::sys(SYS_prctl, PR_SET_NAME, t.comm, 0, 0, 0);
}

void recreate_threads(CkptState& c) {
  CkptQuiesce& q = c.quiesce;
  q.arrived.store(0, std::memory_order_release);
  const long tid0 = raw::sys(SYS_gettid);
  c.threads[0].new_tid = int(tid0);
  for (int i = 1; i < c.thread_count; ++i) {
    CkptThread& t = c.threads[i];
    unsigned long flags = kThreadFlags | (t.tid_address ? kTidFlags : 0);
    long tid = vproc_ckpt_clone_resume(flags, &t.resume, t.fs_base, reinterpret_cast<int*>(t.tid_address),
                                       long(reinterpret_cast<uintptr_t>(&t)));
    if (tid < 0) die(t.comm, tid);
    t.new_tid = int(tid);
  }
  update_aliases(c);
  // Each reports in once it has re-registered (before that, a signal to it
  // would find glibc's registrations missing).
  for (;;) {
    int n = q.arrived.load(std::memory_order_acquire);
    if (n >= c.thread_count - 1) break;
    raw::sys(SYS_futex, &q.arrived, FUTEX_WAIT_PRIVATE, n, nullptr);
  }
}

void release_restored_threads(CkptState& c) {
  if (c.thread_count <= 1) return;
  c.quiesce.restore_release.fetch_add(1, std::memory_order_acq_rel);
  raw::sys(SYS_futex, &c.quiesce.restore_release, FUTEX_WAKE_PRIVATE, 0x7fffffff);
}

void thread_restored(CkptThread& t) {
  CkptState& c = state().ckpt;
  CkptQuiesce& q = c.quiesce;
  const uint32_t seen = q.restore_release.load(std::memory_order_acquire);
  long tid = raw::sys(SYS_gettid);
  t_real_tid = int(tid);
  reregister_thread(t, tid);
  q.arrived.fetch_add(1, std::memory_order_acq_rel);
  raw::sys(SYS_futex, &q.arrived, FUTEX_WAKE_PRIVATE, 1);
  while (q.restore_release.load(std::memory_order_acquire) == seen)
    raw::sys(SYS_futex, &q.restore_release, FUTEX_WAIT_PRIVATE, seen, nullptr);
}

int current_tid_of(const CkptState& c, int old_tid) {
  int n = c.alias_count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    if (c.aliases[i].old_tid == old_tid) return c.aliases[i].tid;
  return 0;
}

int restored_thread_tid(uint32_t vtid) {
  const CkptState& c = state().ckpt;
  if (c.generation == 0 || vtid == 0) return 0;
  for (int i = 1; i < c.thread_count; ++i)
    if (c.threads[i].vtid == vtid) return c.threads[i].new_tid;
  return 0;
}

uint32_t restored_thread_vtid(int tid) {
  const CkptState& c = state().ckpt;
  if (c.generation == 0 || tid <= 0) return 0;
  for (int i = 1; i < c.thread_count; ++i)
    if (c.threads[i].new_tid == tid) return c.threads[i].vtid;
  return 0;
}

}  // namespace vproc::lib
