// signalfd(2) and reads from one: each struct signalfd_siginfo read carries the
// sender's real pid in ssi_pid, rewritten to its vpid here. A signalfd never
// takes the checkpoint signal (ckpt_signal_guard.h).
//
// read() and readv() are wrapped for every descriptor, so their fast path is a
// single bit test (signalfd_fds.h) before the real call.
#undef _FORTIFY_SOURCE  // we define __read_chk ourselves
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>

#include "ckpt_signal_guard.h"
#include "libc_boundary.h"
#include "proc_text.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "siginfo_pid.h"
#include "signalfd_fds.h"
#include "state.h"
#include "sys_entry.h"
#include "preload_rules.h"

// The fortified read (glibc's <bits/unistd.h>, only declared with _FORTIFY_SOURCE).
extern "C" ssize_t __read_chk(int fd, void* buf, size_t nbytes, size_t buflen) noexcept;

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(signalfd);
VPROC_REAL(read);
VPROC_REAL(readv);
VPROC_REAL(__read_chk);

namespace {

constexpr size_t kRecord = sizeof(struct signalfd_siginfo);
static_assert(kRecord == 128);

// A record is rewritten only if the read looks like signalfd records: whole
// records with real signal numbers. A mark left behind by a signalfd closed in
// a way we do not see (glibc-internal close, a raw syscall) must never make us
// change the bytes of another file.
bool plausible(const struct signalfd_siginfo& rec) {
  return rec.ssi_signo >= 1 && rec.ssi_signo <= 64;
}

void fix_buffer(void* buf, size_t n) {
  if (n % kRecord) return;
  auto* rec = static_cast<struct signalfd_siginfo*>(buf);
  for (size_t i = 0; i < n / kRecord; ++i)
    if (plausible(rec[i])) signalfd_pid_to_virtual(&rec[i]);
}

// Copies `len` bytes at byte offset `off` of the data spread over `iov` to or
// from `flat`.
void iov_copy(const struct iovec* iov, int iovcnt, size_t off, char* flat, size_t len, bool out) {
  for (int i = 0; i < iovcnt && len; ++i) {
    size_t l = iov[i].iov_len;
    if (off >= l) {
      off -= l;
      continue;
    }
    size_t n = l - off < len ? l - off : len;
    char* base = static_cast<char*>(iov[i].iov_base) + off;
    for (size_t k = 0; k < n; ++k) {
      if (out)
        base[k] = flat[k];
      else
        flat[k] = base[k];
    }
    flat += n;
    len -= n;
    off = 0;
  }
}

// readv() may split a record across buffers: each is gathered, fixed, scattered.
void fix_iov(const struct iovec* iov, int iovcnt, size_t n) {
  if (n % kRecord) return;
  for (size_t at = 0; at < n; at += kRecord) {
    struct signalfd_siginfo rec;
    iov_copy(iov, iovcnt, at, reinterpret_cast<char*>(&rec), kRecord, false);
    if (!plausible(rec)) continue;
    uint32_t before = rec.ssi_pid;
    signalfd_pid_to_virtual(&rec);
    if (rec.ssi_pid != before)
      iov_copy(iov, iovcnt, at + offsetof(struct signalfd_siginfo, ssi_pid),
               reinterpret_cast<char*>(&rec.ssi_pid), sizeof rec.ssi_pid, true);
  }
}

bool is_signalfd_link(const char* target, long len) {
  static constexpr char kName[] = "anon_inode:[signalfd]";
  if (len != long(sizeof kName - 1)) return false;
  for (long i = 0; i < len; ++i)
    if (target[i] != kName[i]) return false;
  return true;
}

}  // namespace

VPROC_EXPORT int signalfd(int fd, const sigset_t* mask, int flags) noexcept {
  sigset_t clean;
  int r = real_signalfd(fd, without_ckpt_signal(mask, clean), flags);
  if (r >= 0 && active()) set_signalfd_mark(r, true);
  return r;
}

VPROC_EXPORT ssize_t read(int fd, void* buf, size_t n) noexcept {
  if (__builtin_expect(!is_signalfd(fd), 1)) return real_read(fd, buf, n);
  ssize_t r = real_read(fd, buf, n);
  if (r > 0) fix_buffer(buf, size_t(r));
  return r;
}

VPROC_EXPORT ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) noexcept {
  // The real one checks n against buflen (and aborts on overflow) in both cases.
  if (__builtin_expect(!is_signalfd(fd), 1)) return real___read_chk(fd, buf, n, buflen);
  ssize_t r = real___read_chk(fd, buf, n, buflen);
  if (r > 0) fix_buffer(buf, size_t(r));
  return r;
}

VPROC_EXPORT ssize_t readv(int fd, const struct iovec* iov, int iovcnt) noexcept {
  if (__builtin_expect(!is_signalfd(fd), 1)) return real_readv(fd, iov, iovcnt);
  ssize_t r = real_readv(fd, iov, iovcnt);
  if (r > 0) fix_iov(iov, iovcnt, size_t(r));
  return r;
}

namespace vproc::lib {

void adopt_inherited_signalfds() {
  long dir = raw::sys(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (raw::failed(dir)) return;
  alignas(8) char ents[4096];
  for (;;) {
    long n = raw::sys(SYS_getdents64, dir, ents, sizeof ents);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(ents + off);
      off += d->d_reclen;
      size_t len = 0;
      while (d->d_name[len]) ++len;
      long fd = proc_text::parse_pid_text(d->d_name, len);
      if (fd < 0 || fd == dir || fd >= kTrackedFds) continue;  // ".", ".."
      char target[64];
      long t = raw::sys(SYS_readlinkat, dir, d->d_name, target, sizeof target);
      if (!raw::failed(t) && is_signalfd_link(target, t)) set_signalfd_mark(int(fd), true);
    }
  }
  raw::sys(SYS_close, dir);
}

namespace sys {

long signalfd4(int fd, const void* mask, size_t masksize, int flags) {
  uint64_t clean;
  if (mask && masksize == sizeof clean) {
    clean = without_ckpt_signal(*static_cast<const uint64_t*>(mask));
    mask = &clean;
  }
  long r = raw::sys(SYS_signalfd4, fd, mask, masksize, flags);
  if (r >= 0 && active()) set_signalfd_mark(int(r), true);
  return r;
}

}  // namespace sys
}  // namespace vproc::lib
