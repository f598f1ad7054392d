#include "proc_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

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

  long m = raw::sys(SYS_mmap, 0, kBufBytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw::failed(m)) return give_real(fd, flags);
  char* in = reinterpret_cast<char*>(m);
  char* out = in + kMaxFile;

  long n = read_all(fd, in, kMaxFile);
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
    long len = leaf == ProcLeaf::Status ? rewrite_proc_status(in, size_t(n), map, out, kOutCap)
                                        : rewrite_proc_stat(in, size_t(n), map, out, kOutCap);
    const char* text = len >= 0 ? out : in;  // unexpected text: served as it is
    result = serve(text, len >= 0 ? size_t(len) : size_t(n), flags);
    if (raw::failed(result) && result != -EMFILE && result != -ENFILE && result != -ENOMEM) {
      // No memory files here (a seccomp filter, say): the real file, unrewritten.
      long again = raw::sys(SYS_openat, dirfd, kpath, flags | O_CLOEXEC, mode);
      result = raw::failed(again) ? again : give_real(again, flags);
    }
  }
  raw::sys(SYS_munmap, m, kBufBytes);
  return result;
}

}  // namespace vproc::lib
