// Populating a lazily restored process: the restorer mapped the image's pages
// MAP_PRIVATE from the image file, so until a page is written it is the page
// cache's. Threads of the process (no TLS, all signals blocked) make every
// such page a private copy with MADV_POPULATE_WRITE: the kernel breaks
// copy-on-write exactly as a write fault would, without changing contents,
// and a page the program wrote meanwhile is already private and left alone.
// The last thread gives up the image; from then on nothing done to the image
// file can change the process's memory.
//
// Each page costs a fault, an allocation and a 4 KiB copy (about 1.6 us here),
// so the threads share the work in units taken from a common counter: one
// that runs slower (its CPU is busy with the program) simply takes fewer.
#include <climits>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "ckpt_internal.h"
#include "ckpt_maps.h"
#include "proc_text.h"
#include "raw_syscall.h"
#include "state.h"

extern "C" long vproc_ckpt_clone_thread(void* stack_top, int* ctid);

namespace vproc::lib {

// A writable range to populate.
struct PopulateUnit {
  uint64_t start, len;
};

namespace {

// Writable ranges are cut into units where their offset in the image is a
// multiple of kUnitBytes: the page cache's large folios are aligned so, and a
// fault locks the whole folio, so two threads never wait for each other
// there; units are small enough for the threads to finish within a
// millisecond or two of each other.
//
// Each MADV_POPULATE_WRITE holds the mmap lock for reading (it faults pages
// in the way get_user_pages does, about 0.8 ms per unit). A program thread
// that wants it for writing (mmap, munmap, mprotect) meanwhile waits, here
// 15-20 ms at worst with two threads populating, whether a call covers 64 KiB
// or 2 MiB; smaller calls only made populating slower (measured with a
// thread mapping and unmapping memory every millisecond: 1 GiB took 390 ms
// in 2 MiB calls, 455-505 ms in 64-128 KiB calls, 235 ms without it).
constexpr uint64_t kUnitBytes = uint64_t(2) << 20;
constexpr uint64_t kPage = 4096;

// The last thread (or the creator, if no thread could start): the work list
// and the image go.
void finish_populating(CkptState& c) {
  c.populate_scratch.release();
  if (c.restore_flags & VPROC_RESTORE_LEASED) raw::sys(SYS_fcntl, c.image_fd, F_SETLEASE, F_UNLCK);
  raw::sys(SYS_close, c.image_fd);
  c.image_fd = -1;
  if (c.inherited_image_fd < 0) return;
  // A fork child's inherited open of the image: its lease is the parent's,
  // which its threads release when they are done. A parent that exited before
  // (daemon()'s does at once) leaves it to us: our mappings of that open file
  // keep it, and its lease, alive, and a writer of the image would wait for
  // the kernel to break it (lease-break-time, 45 s by default).
  bool parent_populating = false;
  for (int tid : c.parent_populate_tid)
    if (tid != 0 && raw::sys(SYS_tgkill, c.parent_populate_pid, tid, 0) == 0) parent_populating = true;
  if (!parent_populating) raw::sys(SYS_fcntl, c.inherited_image_fd, F_SETLEASE, F_UNLCK);
  raw::sys(SYS_close, c.inherited_image_fd);
  c.inherited_image_fd = -1;
}

// MADV_POPULATE_WRITE stops at the first page it cannot fault in (the
// program unmapped or protected part of the range since it was listed):
// then page by page, so that the rest is still made private.
void populate_range(uint64_t start, uint64_t len) {
  if (raw::sys(SYS_madvise, start, len, MADV_POPULATE_WRITE) == 0) return;
  for (uint64_t at = start; at < start + len; at += kPage) raw::sys(SYS_madvise, at, kPage, MADV_POPULATE_WRITE);
}

// The first thread, while the others wait: the read-only ranges mapped from
// the image (few and small), each opened for writing for a moment (the
// mprotects need the mmap lock for writing: alone, they do not wait for
// another thread's unit), then the writable ones listed as units in the
// populate scratch, published (even if empty) with a wake of the others.
void list_units(CkptState& c) {
  Scratch& s = c.populate_scratch;
  MapList maps;
  PopulateUnit* units = nullptr;
  int count = 0;
  if (s.init(size_t(64) << 20) && read_maps(s, maps)) {
    auto ours = [&](const MapEntry& e) { return e.dev == c.image_dev && e.ino == c.image_ino; };
    long need = 0;
    for (int i = 0; i < maps.count; ++i) {
      const MapEntry& e = maps.entries[i];
      if (!ours(e)) continue;
      if (e.prot & PROT_WRITE) {
        need += long((e.offset + (e.end - e.start) - 1) / kUnitBytes - e.offset / kUnitBytes + 1);
        continue;
      }
      raw::sys(SYS_mprotect, e.start, e.end - e.start, e.prot | PROT_READ | PROT_WRITE);
      populate_range(e.start, e.end - e.start);
      raw::sys(SYS_mprotect, e.start, e.end - e.start, e.prot);
    }
    if (need > 0 && need < INT_MAX && (units = s.take_array<PopulateUnit>(size_t(need)))) {
      for (int i = 0; i < maps.count; ++i) {
        const MapEntry& e = maps.entries[i];
        if (!ours(e) || !(e.prot & PROT_WRITE)) continue;
        for (uint64_t at = e.start; at < e.end;) {
          uint64_t pos = e.offset + (at - e.start);  // in the image file
          uint64_t next = at + ((pos / kUnitBytes + 1) * kUnitBytes - pos);
          uint64_t end = next < e.end ? next : e.end;
          units[count++] = {at, end - at};
          at = end;
        }
      }
    }
  }
  c.populate_units = units;
  c.populate_unit_count = count;
  c.populate_ready.store(1, std::memory_order_release);
  raw::sys(SYS_futex, &c.populate_ready, FUTEX_WAKE, INT_MAX);
}

// The I-th CPU (from 0) of MASK (WORDS words), or -1.
int nth_cpu(const uint64_t* mask, int words, int i) {
  for (int w = 0; w < words; ++w) {
    for (uint64_t m = mask[w]; m; m &= m - 1, --i)
      if (i == 0) return w * 64 + __builtin_ctzll(m);
  }
  return -1;
}

}  // namespace

// One thread per CPU we may run on, up to kMaxPopulate, each bound to its own
// CPU from the start: left to itself, the scheduler here queued a new thread
// behind its running sibling while the other CPU idled (two threads then took
// as long as one in about half of the runs); bound at creation they always
// ran side by side.
void start_populating(CkptState& c) {
  uint64_t mask[16] = {};
  long n = raw::sys(SYS_sched_getaffinity, 0, sizeof mask, mask);
  int words = n > 0 ? int(n / 8) : 0;
  int cpus = 0;
  for (int i = 0; i < words; ++i) cpus += __builtin_popcountll(mask[i]);
  int count = cpus < 1 ? 1 : cpus > CkptState::kMaxPopulate ? CkptState::kMaxPopulate : cpus;
  c.populate_count = count;
  c.populate_next.store(0, std::memory_order_relaxed);
  c.populate_left.store(count, std::memory_order_relaxed);
  c.populate_ready.store(0, std::memory_order_relaxed);
  c.populate_unit_next.store(0, std::memory_order_relaxed);
  c.populate_units = nullptr;
  c.populate_unit_count = 0;
  c.populate_scratch = Scratch{};
  for (int i = 0; i < count; ++i) {
    long t = vproc_ckpt_clone_thread(c.populate_stack[i] + sizeof c.populate_stack[i],
                                     reinterpret_cast<int*>(&c.populate_tid[i]));
    if (t < 0) {
      // Fewer helpers than planned: the last one to finish releases the image.
      c.populate_tid[i].store(0, std::memory_order_relaxed);
      if (c.populate_left.fetch_sub(1, std::memory_order_acq_rel) == 1) finish_populating(c);  // none at all
      continue;
    }
    int cpu = count > 1 ? nth_cpu(mask, words, i) : -1;
    if (cpu >= 0) {
      uint64_t one[16] = {};
      one[cpu / 64] = uint64_t(1) << (cpu % 64);
      raw::sys(SYS_sched_setaffinity, t, size_t(words) * 8, one);  // a failure only costs speed
    }
  }
}

// The child of a fork taken while pages were being populated (one our
// wrappers did not see: they wait for populating to end first): its copies of
// the pages not yet populated still come from the image (the kernel copied
// the parent's page tables, or faults them in from the file), and none of the
// parent's threads runs here. It populates its own, under a lease of its own
// where it can: the inherited descriptor shares the parent's open file, whose
// lease the parent drops when it is done.
void populate_after_fork(int parent_pid) {
  CkptState& c = state().ckpt;
  bool running = false;
  for (const auto& tid : c.populate_tid) running |= tid.load(std::memory_order_relaxed) != 0;
  // The common case writes nothing: every fork child runs this, and a write
  // to this page would cost it one more copy-on-write fault.
  if (!running) {
    if (c.inherited_image_fd >= 0) c.inherited_image_fd = -1;
    return;
  }
  for (int i = 0; i < CkptState::kMaxPopulate; ++i)
    c.parent_populate_tid[i] = c.populate_tid[i].exchange(0, std::memory_order_relaxed);
  c.parent_populate_pid = parent_pid;
  c.inherited_image_fd = -1;
  if (c.image_fd < 0) return;
  c.populate_scratch.release();  // the parent's list, copied
  // The parent's last thread may have closed the image just before the fork
  // (its number may even name another file by now): then all is populated.
  struct stat sb;
  if (raw::failed(raw::sys(SYS_fstat, c.image_fd, &sb)) || uint64_t(sb.st_dev) != c.image_dev ||
      uint64_t(sb.st_ino) != c.image_ino) {
    c.image_fd = -1;
    return;
  }
  char path[32] = "/proc/self/fd/";
  size_t n = 14;
  n += proc_text::format_decimal(uint64_t(int(c.image_fd)), path + n, sizeof path - n - 1);
  path[n] = 0;
  c.restore_flags &= ~VPROC_RESTORE_LEASED;
  long own = raw::sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (!raw::failed(own)) {
    c.inherited_image_fd = int(c.image_fd);
    c.image_fd = int(own);
    // Taking a lease makes us the owner its break signal (SIGIO) goes to: none.
    if (raw::sys(SYS_fcntl, own, F_SETLEASE, F_RDLCK) == 0) {
      raw::sys(SYS_fcntl, own, F_SETOWN, 0);
      c.restore_flags |= VPROC_RESTORE_LEASED;
    }
  } else {
    c.inherited_image_fd = int(c.image_fd);  // populated without a lease of our own
    c.image_fd = -1;
  }
  start_populating(c);
}

void wait_for_populate(CkptState& c) {
  for (auto& tid : c.populate_tid) {
    for (;;) {
      int t = tid.load(std::memory_order_acquire);
      if (t == 0) break;
      raw::sys(SYS_futex, &tid, FUTEX_WAIT, t, nullptr);
    }
  }
}

extern "C" __attribute__((visibility("hidden"), noreturn)) void vproc_ckpt_populate_main() {
  CkptState& c = state().ckpt;
  uint64_t all = ~0ull;
  raw::sys(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, 8);
  if (c.populate_next.fetch_add(1, std::memory_order_acq_rel) == 0) {
    list_units(c);
  } else {
    while (c.populate_ready.load(std::memory_order_acquire) == 0)
      raw::sys(SYS_futex, &c.populate_ready, FUTEX_WAIT, 0, nullptr);
  }
  for (;;) {
    int i = c.populate_unit_next.fetch_add(1, std::memory_order_relaxed);
    if (i >= c.populate_unit_count) break;
    populate_range(c.populate_units[i].start, c.populate_units[i].len);
  }
  // The last one: every other thread is past its last unit.
  if (c.populate_left.fetch_sub(1, std::memory_order_acq_rel) == 1) finish_populating(c);
  raw::sys(SYS_exit, 0);
  __builtin_unreachable();
}

}  // namespace vproc::lib
