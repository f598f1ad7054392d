#include "proc_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <atomic>

#include "proc_kernel_path.h"
#include "proc_rewrite.h"
#include "proc_text.h"
#include "raw_syscall.h"
#include "preload_rules.h"

namespace vproc::lib {
namespace {

// Far above any real status/stat (a few KiB; a status with 65536 supplementary
// groups stays below 1 MiB). Only touched pages cost memory.
constexpr size_t kMaxFile = size_t{1} << 20;
constexpr size_t kOutCap = kMaxFile + 4096;  // ids grow by a few digits each
constexpr size_t kBufBytes = kMaxFile + kOutCap;

// A status or stat is read into one of a few static buffers when one is free
// and the file fits (it nearly always does): mapping and unmapping a buffer
// for every open takes the process's mmap lock for writing twice, which waits
// for (and holds up) every thread faulting pages in under that lock, such as
// those populating a lazily restored process (ckpt_populate.cc). Taken and
// given back with atomic bit operations: a signal handler that opens one
// while the interrupted code holds a buffer takes another, or maps one.
constexpr size_t kSmallFile = size_t{16} << 10;
constexpr size_t kSmallOut = kSmallFile + 4096;
constexpr int kSmallSlots = 4;
struct SmallBuffer {
  char in[kSmallFile];
  char out[kSmallOut];
};
SmallBuffer g_small[kSmallSlots];
std::atomic<uint32_t> g_small_busy{0};

int take_small() {
  uint32_t busy = g_small_busy.load(std::memory_order_relaxed);
  for (;;) {
    int slot = __builtin_ctz(~busy);
    if (slot >= kSmallSlots) return -1;
    if (g_small_busy.compare_exchange_weak(busy, busy | (1u << slot), std::memory_order_acquire,
                                           std::memory_order_relaxed))
      return slot;
  }
}

void give_back_small(int slot) { g_small_busy.fetch_and(~(1u << slot), std::memory_order_release); }

// Gives the program the real file after all (its contents unrewritten): with
// the close-on-exec flag it asked for.
long give_real(long fd, int flags) {
  if (!(flags & O_CLOEXEC)) raw::sys(SYS_fcntl, fd, F_SETFD, 0);
  return fd;
}

// Reads all of fd into buf; returns the length, -EFBIG if it does not fit, or -errno.
long read_all(long fd, char* buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    if (n == cap) return -EFBIG;
    long r = raw::sys(SYS_read, fd, buf + n, cap - n);
    if (r == -EINTR) continue;
    if (raw::failed(r)) return r;
    if (r == 0) return long(n);
    n += size_t(r);
  }
}

long write_all(long fd, const char* buf, size_t len) {
  size_t n = 0;
  while (n < len) {
    long r = raw::sys(SYS_write, fd, buf + n, len - n);
    if (r == -EINTR) continue;
    if (raw::failed(r)) return r;
    n += size_t(r);
  }
  return 0;
}

// The memory file holding `text`, as a read-only descriptor (a write to it
// fails with EBADF, as on the real file) at the lowest free number.
long serve(const char* text, size_t len, int flags) {
  long mfd = raw::sys(SYS_memfd_create, "vproc-proc", MFD_CLOEXEC);
  if (raw::failed(mfd)) return mfd;
  if (long w = write_all(mfd, text, len)) {
    raw::sys(SYS_close, mfd);
    return w;
  }
  char self_fd[32] = "/proc/self/fd/";
  size_t p = 14;
  p += proc_text::format_decimal(uint64_t(mfd), self_fd + p, sizeof self_fd - p - 1);
  self_fd[p] = '\0';
  long ro = raw::sys(SYS_openat, AT_FDCWD, self_fd, O_RDONLY | O_CLOEXEC | (flags & O_NONBLOCK));
  if (raw::failed(ro)) {
    // Cannot reopen read-only: serve the writable descriptor, rewound.
    raw::sys(SYS_lseek, mfd, 0, SEEK_SET);
    return give_real(mfd, flags);
  }
  // Onto the memory file's number (the lowest free when we began).
  long d = raw::sys(SYS_dup3, ro, mfd, flags & O_CLOEXEC);
  raw::sys(SYS_close, ro);
  if (raw::failed(d)) {
    raw::sys(SYS_close, mfd);
    return d;
  }
  return mfd;
}

}  // namespace

bool wants_proc_snapshot(ProcLeaf leaf, int flags) {
  return leaf != ProcLeaf::Other && (flags & O_ACCMODE) == O_RDONLY && !(flags & O_PATH);
}

long open_proc_snapshot(int dirfd, const char* kpath, int flags, mode_t mode, ProcLeaf leaf) {
  long fd = raw::sys(SYS_openat, dirfd, kpath, flags | O_CLOEXEC, mode);
  if (raw::failed(fd)) return fd;

  // A small buffer first; a file that does not fit is read again, whole,
  // into a mapped one.
  int slot = take_small();
  char* in = nullptr;
  char* out = nullptr;
  size_t out_cap = 0;
  long n = -EFBIG;
  if (slot >= 0) {
    in = g_small[slot].in;
    out = g_small[slot].out;
    out_cap = kSmallOut;
    n = read_all(fd, in, kSmallFile);
    if (n == -EFBIG) {
      give_back_small(slot);
      slot = -1;
      raw::sys(SYS_lseek, fd, 0, SEEK_SET);
    }
  }
  long m = 0;
  if (slot < 0) {
    m = raw::sys(SYS_mmap, 0, kBufBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw::failed(m)) return give_real(fd, flags);
    in = reinterpret_cast<char*>(m);
    out = in + kMaxFile;
    out_cap = kOutCap;
    n = read_all(fd, in, kMaxFile);
  }
  long result;
  if (n == -EFBIG) {
    raw::sys(SYS_lseek, fd, 0, SEEK_SET);
    result = give_real(fd, flags);  // beyond any real file: leave it alone
  } else if (n < 0) {
    raw::sys(SYS_close, fd);
    result = n;
  } else {
    raw::sys(SYS_close, fd);  // first: the snapshot takes over its number
    const IdMap& map = process_id_map();
    long len = leaf == ProcLeaf::Status ? rewrite_proc_status(in, size_t(n), map, out, out_cap)
                                        : rewrite_proc_stat(in, size_t(n), map, out, out_cap);
    const char* text = len >= 0 ? out : in;  // unexpected text: served as it is
    result = serve(text, len >= 0 ? size_t(len) : size_t(n), flags);
    if (raw::failed(result) && result != -EMFILE && result != -ENFILE && result != -ENOMEM) {
      // No memory files here (a seccomp filter, say): the real file, unrewritten.
      long again = raw::sys(SYS_openat, dirfd, kpath, flags | O_CLOEXEC, mode);
      result = raw::failed(again) ? again : give_real(again, flags);
    }
  }
  if (slot >= 0)
    give_back_small(slot);
  else
    raw::sys(SYS_munmap, m, kBufBytes);
  return result;
}

}  // namespace vproc::lib
