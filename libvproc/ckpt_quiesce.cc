#include "ckpt_quiesce.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include <cerrno>
#include <cstring>

#include "ckpt_internal.h"
#include "ckpt_restart.h"
#include "ckpt_threads.h"
#include "diag.h"
#include "raw_syscall.h"
#include "state.h"

extern "C" long vproc_ckpt_save(vproc::lib::ResumeRegs* r) __attribute__((returns_twice));

namespace vproc::lib {

long read_task_file(long tid, const char* name, char* buf, size_t cap) {
  char path[64] = "/proc/self/task/";
  format_u64(uint64_t(tid), path + strlen(path));
  size_t n = strlen(path);
  path[n++] = '/';
  copy_cstr(path + n, sizeof path - n, name);
  long fd = raw::sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fd;
  long len = raw::sys(SYS_read, fd, buf, cap - 1);
  raw::sys(SYS_close, fd);
  buf[len > 0 ? len : 0] = 0;
  return len;
}

namespace {

int64_t monotonic_ns() {
  struct timespec ts {};
  raw::sys(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void futex_wait(const void* word, uint32_t seen, int64_t timeout_ns) {
  struct timespec ts {
    timeout_ns / 1000000000, timeout_ns % 1000000000
  };
  raw::sys(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, timeout_ns >= 0 ? &ts : nullptr);
}

void futex_wake_all(const void* word) { raw::sys(SYS_futex, word, FUTEX_WAKE_PRIVATE, 0x7fffffff); }

// Calls f(tid) for every task of the process; false if /proc/self/task is
// unreadable.
template <typename F>
bool for_each_task(F f) {
  long fd = raw::sys(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  alignas(8) char buf[4096];
  for (;;) {
    long len = raw::sys(SYS_getdents64, fd, buf, sizeof buf);
    if (len <= 0) break;
    for (long off = 0; off < len;) {
      const char* name = buf + off + 19;  // struct linux_dirent64: d_name at 19
      unsigned short reclen;
      memcpy(&reclen, buf + off + 16, sizeof reclen);
      int tid = 0;
      for (const char* p = name; *p >= '0' && *p <= '9'; ++p) tid = tid * 10 + (*p - '0');
      if (tid > 0) f(tid);
      off += reclen;
    }
  }
  raw::sys(SYS_close, fd);
  return true;
}

// The one-letter state of task `tid` (/proc/self/task/TID/stat), '?' if unknown.
char task_state(int tid) {
  char buf[512];
  if (read_task_file(tid, "stat", buf, sizeof buf) <= 0) return '?';
  const char* close = nullptr;  // the name may contain ')': the last one ends it
  for (const char* p = buf; *p; ++p)
    if (*p == ')') close = p;
  return close && close[1] == ' ' && close[2] ? close[2] : '?';
}

bool task_exists(long pid, int tid) { return raw::sys(SYS_tgkill, pid, tid, 0) != -ESRCH; }

int slot_of(const CkptQuiesce& q, int slots, int tid) {
  for (int i = 1; i < slots; ++i)
    if (q.slot_tid[i] == tid) return i;
  return -1;
}

void append(char* out, size_t cap, const char* s) { copy_cstr(out + strlen(out), cap - strlen(out), s); }
void append_u(char* out, size_t cap, uint64_t v) {
  char n[24];
  append(out, cap, format_u64(v, n));
}

// Does task `tid` block signal `sig` (SigBlk in /proc/self/task/TID/status)?
bool task_blocks(int tid, int sig) {
  char buf[2048];
  if (read_task_file(tid, "status", buf, sizeof buf) <= 0) return false;
  const char* p = strstr(buf, "SigBlk:");
  if (!p) return false;
  p += 7;
  while (*p == ' ' || *p == '\t') ++p;
  uint64_t mask = 0;
  for (; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); ++p)
    mask = mask << 4 | uint64_t(*p <= '9' ? *p - '0' : *p - 'a' + 10);
  return (mask >> (sig - 1)) & 1;
}

// The message for threads that did not park in time.
void describe_stragglers(const CkptQuiesce& q, int slots, int sig, char* why, size_t cap) {
  why[0] = 0;
  int listed = 0;
  for (int i = 0; i < slots; ++i) {
    if (q.slot_state[i].load(std::memory_order_acquire) != CkptQuiesce::kSent || q.slot_tid[i] == 0) continue;
    if (listed++ == 4) {
      append(why, cap, ", ...");
      break;
    }
    append(why, cap, listed > 1 ? ", " : "thread ");
    append_u(why, cap, uint64_t(q.slot_tid[i]));
    char st[2] = {task_state(q.slot_tid[i]), 0};
    append(why, cap, i == 0 ? " (the main thread, state " : " (state ");
    append(why, cap, st);
    // Where it waits, and whether it blocks the signal: what a user (or we)
    // need to tell a stuck thread from a lost signal.
    char wchan[64];
    if (read_task_file(q.slot_tid[i], "wchan", wchan, sizeof wchan) > 0 && wchan[0] && wchan[0] != '0') {
      append(why, cap, ", in ");
      append(why, cap, wchan);
    }
    if (task_blocks(q.slot_tid[i], sig)) append(why, cap, ", blocking the signal");
    append(why, cap, ")");
  }
  append(why, cap,
         " did not stop for the checkpoint within 5 s (a thread in vfork() or in uninterruptible sleep takes "
         "no signal); the process goes on unchanged");
}

void abandon(CkptState& c) {
  CkptQuiesce& q = c.quiesce;
  // Round first: a thread that has not yet parked sees it and leaves; one that
  // read `release` before then sees it change.
  q.round.fetch_add(1, std::memory_order_acq_rel);
  q.release.fetch_add(1, std::memory_order_acq_rel);
  futex_wake_all(&q.release);
}

// How long a round waits for a thread that blocks the signal before it lets
// everybody go and tries again.
constexpr int64_t kBlockedRetryNs = 20'000'000;

// One round of parking: 0 when everybody is parked, -EAGAIN when a thread
// blocks the signal for now (the parked ones are released), else -errno.
int park_round(CkptState& c, int sig, int self_tid, int* self_slot, int64_t deadline, char* why, size_t cap) {
  CkptQuiesce& q = c.quiesce;
  const long pid = raw::sys(SYS_getpid);
  const uint32_t round = q.round.fetch_add(1, std::memory_order_acq_rel) + 1;
  q.parked.store(0, std::memory_order_release);
  int slots = 1;  // slot 0: the main thread
  q.slot_tid[0] = int(pid);
  q.slot_state[0].store(CkptQuiesce::kSent, std::memory_order_relaxed);
  bool full = false, main_seen = false, main_gone = false;
  auto take = [&](int tid) {
    int slot = 0;
    if (tid == pid) {
      if (main_seen) return;
      main_seen = true;
    } else {
      if (slot_of(q, slots, tid) > 0) return;
      if (slots == CkptQuiesce::kMaxThreads) {
        full = true;
        return;
      }
      slot = slots++;
      q.slot_tid[slot] = tid;
    }
    if (tid == self_tid) {
      q.slot_state[slot].store(CkptQuiesce::kParked, std::memory_order_relaxed);
      *self_slot = slot;
      return;
    }
    if (tid == pid && task_state(tid) == 'Z') {
      main_gone = true;
      return;
    }
    q.slot_state[slot].store(CkptQuiesce::kSent, std::memory_order_release);
    if (queue_to_thread(tid, sig, park_value(round, slot)) == -ESRCH)
      q.slot_state[slot].store(CkptQuiesce::kGone, std::memory_order_release);
  };
  q.leader.store(self_tid, std::memory_order_release);
  const int64_t started = monotonic_ns();
  int error = 0;
  for (;;) {
    int before = slots;
    if (!for_each_task(take)) {
      error = EIO;
      copy_cstr(why, cap, "cannot list the process's threads (/proc/self/task)");
      break;
    }
    if (main_gone) {
      error = EOPNOTSUPP;
      copy_cstr(why, cap,
                "the main thread has exited (pthread_exit) while other threads run: such a process cannot be "
                "restored");
      break;
    }
    if (full) {
      error = EOPNOTSUPP;
      copy_cstr(why, cap, "the process has more than 512 threads: more are not saved");
      break;
    }
    // Wait for everybody signalled so far; a thread that exits before it
    // takes the signal never parks, so absent ones are looked for meanwhile.
    for (;;) {
      int parked = q.parked.load(std::memory_order_acquire);
      int waiting = 0;
      bool blocked = false;
      const bool look = monotonic_ns() - started > kBlockedRetryNs;
      for (int i = 0; i < slots; ++i)
        if (q.slot_state[i].load(std::memory_order_acquire) == CkptQuiesce::kSent) {
          if (!task_exists(pid, q.slot_tid[i])) {
            q.slot_state[i].store(CkptQuiesce::kGone, std::memory_order_release);
            continue;
          }
          ++waiting;
          // glibc blocks every signal in a thread's last moments (and around
          // clone in pthread_create): such a thread may wait for a lock a
          // parked one holds. Let everybody go on, and try again.
          if (look && task_blocks(q.slot_tid[i], sig)) blocked = true;
        }
      if (waiting == 0) break;
      int64_t left = deadline - monotonic_ns();
      if (left <= 0) {
        error = ETIMEDOUT;
        describe_stragglers(q, slots, sig, why, cap);
        break;
      }
      if (blocked) {
        error = EAGAIN;
        break;
      }
      futex_wait(&q.parked, uint32_t(parked), left < 5'000'000 ? left : 5'000'000);
    }
    if (error) break;
    if (slots == before) break;  // nobody new: nothing runs but us
  }
  if (error) {
    abandon(c);
    // (Still ours while we try again: a request on another thread waits.)
    if (error != EAGAIN) q.leader.store(0, std::memory_order_release);
    return -error;
  }
  c.thread_count = slots;
  return 0;
}

}  // namespace

int quiesce_threads(CkptState& c, int sig, int self_tid, int* self_slot, int64_t deadline, bool step_aside,
                    char* why, size_t cap) {
  for (;;) {
    int r = park_round(c, sig, self_tid, self_slot, deadline, why, cap);
    if (r != -EAGAIN) return r;
    if (step_aside) {
      c.quiesce.leader.store(0, std::memory_order_release);
      return r;
    }
    struct timespec pause = {0, 2'000'000};  // the released threads' moment to get past
    raw::sys(SYS_nanosleep, &pause, nullptr);
  }
}

int count_tasks() {
  int n = 0;
  return for_each_task([&](int) { ++n; }) ? n : 0;
}

void compact_slots(CkptState& c) {
  CkptQuiesce& q = c.quiesce;
  int n = 0;
  for (int i = 0; i < c.thread_count; ++i) {
    if (q.slot_state[i].load(std::memory_order_acquire) != CkptQuiesce::kParked) continue;
    if (n != i) {
      memcpy(static_cast<void*>(&c.threads[n]), &c.threads[i], sizeof c.threads[i]);
      q.slot_tid[n] = q.slot_tid[i];
    }
    ++n;
  }
  c.thread_count = n;
}

void release_threads(CkptState& c) {
  CkptQuiesce& q = c.quiesce;
  q.leader.store(0, std::memory_order_release);
  abandon(c);
}

void park_thread(CkptState& c, uint64_t value, void* ucontext) {
  CkptQuiesce& q = c.quiesce;
  const uint32_t seen = q.release.load(std::memory_order_acquire);
  const int slot = int(value & 0xffff);
  if (q.leader.load(std::memory_order_acquire) == 0 ||
      (q.round.load(std::memory_order_acquire) & 0xffff) != ((value >> 16) & 0xffff) ||
      slot >= CkptQuiesce::kMaxThreads)
    return;  // a late request of a round that is over
  note_ckpt_interruption(ucontext);
  capture_thread(c.threads[slot], static_cast<const ucontext_t*>(ucontext));
  long resumed = vproc_ckpt_save(&state().ckpt.threads[slot].resume);
  if (resumed != 0) {
    // A restored process (locals are as they were when the snapshot was
    // taken): the main thread from the restorer, another one re-created.
    resumed_after_restore(resumed);
    return;
  }
  CkptQuiesce& qs = state().ckpt.quiesce;
  qs.slot_state[slot].store(CkptQuiesce::kParked, std::memory_order_release);
  qs.parked.fetch_add(1, std::memory_order_acq_rel);
  raw::sys(SYS_futex, &qs.parked, FUTEX_WAKE_PRIVATE, 1);
  while (qs.release.load(std::memory_order_acquire) == seen) futex_wait(&qs.release, seen, -1);
}

}  // namespace vproc::lib
