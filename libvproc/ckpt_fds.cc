// The snapshot's file descriptors (PITFALLS 19). The snapshot shares every open
// file description with the process, so offsets read here are the process's,
// as long as it is still frozen (snapshot_main reads them before releasing it).
//
// Saved: regular files (path, flags, offset, identity), deleted-but-open files
// (contents stored), directories, /dev/null|zero|urandom|random, terminals,
// pipes with both ends in the process (ckpt_pipes.cc), epoll instances
// (ckpt_epoll.cc), eventfds, and fds 0-2 whatever else they are (the restoring
// command provides stdio). The rest (sockets, pipes to other processes, other
// kernel objects and devices, file locks) makes the checkpoint refuse, naming
// each.
#include <cerrno>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include <cstring>

#include "ckpt_records.h"
#include "diag.h"
#include "raw_syscall.h"

namespace vproc::lib {
namespace {

struct Dirent64 {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[];
};

void fd_path(char* buf, const char* dir, int fd) {
  size_t n = strlen(dir);
  memcpy(buf, dir, n);
  format_u64(uint64_t(fd), buf + n);
}

uint64_t field(const char* text, const char* key, int base) {
  const char* p = strstr(text, key);
  if (!p) return 0;
  p += strlen(key);
  while (*p == ' ' || *p == '\t') ++p;
  uint64_t v = 0;
  for (;; ++p) {
    int d = *p >= '0' && *p <= '9' ? *p - '0' : (base == 16 && *p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : -1;
    if (d < 0 || d >= base) break;
    v = v * uint64_t(base) + uint64_t(d);
  }
  return v;
}

bool is_tty_path(const char* p) {
  return !strncmp(p, "/dev/pts/", 9) || !strncmp(p, "/dev/tty", 8) || !strcmp(p, "/dev/console");
}

void classify(ImageOut& out, FdRec& r, const struct stat& st, const char* target) {
  size_t tl = strlen(target);
  bool deleted = tl > 10 && !strcmp(target + tl - 10, " (deleted)");
  if (S_ISFIFO(st.st_mode) && !strncmp(target, "pipe:", 5)) {
    r.kind = FdKind::Pipe;  // or stdio, or refused: capture_pipes() decides
  } else if (!strcmp(target, "anon_inode:[eventpoll]")) {
    r.kind = FdKind::Epoll;
  } else if (!strcmp(target, "anon_inode:[eventfd]")) {
    r.kind = FdKind::Eventfd;
  } else if (r.fd <= 2 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    // A terminal, pipe or socket on 0-2 becomes the restoring command's own
    // (as for any program started there). A regular file stays that file:
    // a shell redirecting `echo >>file` puts it on fd 1 for a moment, and the
    // restored shell must find it there.
    r.kind = FdKind::Stdio;
  } else if (S_ISREG(st.st_mode)) {
    r.kind = deleted ? FdKind::Deleted : FdKind::Regular;
  } else if (S_ISDIR(st.st_mode)) {
    r.kind = FdKind::Directory;
  } else if (S_ISCHR(st.st_mode) && !strcmp(target, "/dev/null")) {
    r.kind = FdKind::DevNull;
  } else if (S_ISCHR(st.st_mode) && !strcmp(target, "/dev/zero")) {
    r.kind = FdKind::DevZero;
  } else if (S_ISCHR(st.st_mode) && !strcmp(target, "/dev/urandom")) {
    r.kind = FdKind::DevUrandom;
  } else if (S_ISCHR(st.st_mode) && !strcmp(target, "/dev/random")) {
    r.kind = FdKind::DevRandom;
  } else if (S_ISCHR(st.st_mode) && is_tty_path(target)) {
    r.kind = FdKind::Tty;
  } else {
    char num[16];
    fd_path(num, "fd ", r.fd);
    const char* what = !strncmp(target, "socket:", 7)        ? ": a socket (not saved yet)"
                       : S_ISFIFO(st.st_mode)                 ? ": a named pipe (not saved yet)"
                       : !strncmp(target, "anon_inode:", 11)  ? ": a kernel object (not saved yet)"
                                                              : ": not a regular file or a supported device";
    out.refusals.add(num, " ", target, what);
    r.refused = true;
  }
}

// The counter and mode of an eventfd (fdinfo "eventfd-count: <hex>").
void read_eventfd(ImageOut& out, FdRec& r, const char* info) {
  r.eventfd_count = field(info, "eventfd-count:", 16);
  r.eventfd_semaphore = field(info, "eventfd-semaphore:", 10) != 0;
  if (!strstr(info, "eventfd-semaphore:")) {  // older kernels
    char num[16];
    fd_path(num, "fd ", r.fd);
    out.refusals.add(num, " ", r.path, ": an eventfd (this kernel does not show whether it counts as a semaphore)");
    r.refused = true;
  }
}

}  // namespace

int capture_fds(Scratch& s, ImageOut& out, const int* ignore, int ignore_count) {
  long dir = raw::sys(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return int(dir);
  constexpr int kMaxFds = 65536;
  out.fds = s.take_array<FdRec>(kMaxFds);
  char* buf = static_cast<char*>(s.take(32768));
  if (!out.fds || !buf) return -ENOMEM;
  for (;;) {
    long n = raw::sys(SYS_getdents64, dir, buf, 32768);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<Dirent64*>(buf + off);
      off += d->reclen;
      if (d->name[0] < '0' || d->name[0] > '9') continue;
      int fd = 0;
      for (const char* p = d->name; *p; ++p) fd = fd * 10 + (*p - '0');
      if (fd == int(dir)) continue;
      bool skip = false;
      for (int i = 0; i < ignore_count; ++i) skip |= ignore[i] == fd;
      if (skip || out.fd_count == kMaxFds) continue;
      FdRec& r = out.fds[out.fd_count];
      memset(&r, 0, sizeof r);
      r.fd = fd;
      r.same_as = -1;
      r.blob = -1;
      r.pipe_first = -1;
      char path[64];
      fd_path(path, "/proc/self/fd/", fd);
      char* target = static_cast<char*>(s.take(4097, 1));
      if (!target) return -ENOMEM;
      long tl = raw::sys(SYS_readlinkat, AT_FDCWD, path, target, 4096);
      if (tl < 0) continue;  // closed meanwhile
      target[tl] = 0;
      r.path = target;
      struct stat st;
      if (raw::sys(SYS_fstat, fd, &st) != 0) continue;
      r.dev = st.st_dev;
      r.ino = st.st_ino;
      r.size = uint64_t(st.st_size);
      r.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      fd_path(path, "/proc/self/fdinfo/", fd);
      char* info;
      if (read_proc_file(s, path, &info) < 0) continue;
      r.offset = field(info, "pos:", 10);
      r.flags = uint32_t(field(info, "flags:", 8));
      long fdflags = raw::sys(SYS_fcntl, fd, F_GETFD);
      if (fdflags > 0 && (fdflags & FD_CLOEXEC)) r.flags |= O_CLOEXEC;
      classify(out, r, st, target);
      if (r.kind == FdKind::Eventfd) read_eventfd(out, r, info);
      if (r.kind == FdKind::Epoll && read_epoll_watches(s, r, info) < 0) return -ENOMEM;
      if (strstr(info, "lock:")) {
        char num[16];
        fd_path(num, "fd ", fd);
        out.refusals.add(num, " (", target, "): holds a file lock (not saved yet)");
        r.refused = true;
      }
      // Descriptors sharing one open file description (dup, inheritance) must
      // share it again after restore: kcmp says which ones do.
      for (int i = 0; i < out.fd_count; ++i) {
        const FdRec& o = out.fds[i];
        if (o.dev != r.dev || o.ino != r.ino) continue;
        long pid = raw::sys(SYS_getpid);
        if (raw::sys(SYS_kcmp, pid, pid, KCMP_FILE, o.fd, fd) == 0) {
          r.same_as = o.same_as >= 0 ? o.same_as : o.fd;
          break;
        }
      }
      if (r.same_as >= 0) r.watch_count = 0;  // the registrations are the description's
      ++out.fd_count;
    }
  }
  raw::sys(SYS_close, dir);
  int err = capture_pipes(s, out);
  if (err < 0) return err;
  check_epoll_watches(out);
  return 0;
}

int store_deleted_contents(ImageOut& out) {
  for (int i = 0; i < out.fd_count; ++i) {
    FdRec& r = out.fds[i];
    if (r.kind != FdKind::Deleted || r.same_as >= 0) continue;
    int err = 0;
    if (!out_align(out, &err)) return -err;
    BlobRec& b = out.blobs[out.blob_count];
    b.offset = out.pos;
    b.size = 0;
    // Stream the contents with pread (it leaves the shared offset alone).
    static char block[1 << 16];
    HashStream h;
    for (uint64_t at = 0;; ) {
      long n = raw::sys(SYS_pread64, r.fd, block, sizeof block, at);
      if (n < 0) return int(n);
      if (n == 0) break;
      if (!out_write(out, block, size_t(n), &err)) return -err;
      h.update(block, size_t(n));
      at += uint64_t(n);
      b.size = at;
      out.data_bytes += uint64_t(n);
    }
    b.hash = h.digest();
    r.blob = out.blob_count++;
  }
  return 0;
}

}  // namespace vproc::lib
