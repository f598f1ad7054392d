// Calls that take a path, for paths into /proc that name a process or thread:
// "/proc/<vpid>/...", "/proc/<pid>/task/<vtid>/...", and the status/stat files
// (also under /proc/self and /proc/thread-self), which are served with their pid
// fields rewritten (proc_snapshot.h). readlink of /proc/self, /proc/thread-self
// and of links to /proc/<pid> directories reads back virtual ids.
//
// Every other path costs one 6-byte comparison before the real call.
//
// Paths relative to a directory descriptor inside /proc (openat(proc_fd,
// "<vpid>/status")) are resolved through that descriptor (proc_dirfd_path).
// Not covered (documented limits): paths relative to a working directory inside
// /proc, "..", and glibc functions that open /proc paths internally (realpath,
// scandir, ftw).
#undef _FORTIFY_SOURCE  // we define the fortified entry points ourselves
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <type_traits>

#include "ckpt_handler.h"
#include "libc_boundary.h"
#include "proc_kernel_path.h"
#include "proc_snapshot.h"
#include "proc_task_dir.h"
#include "proc_text.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "state.h"
#include "sys_entry.h"
#include "preload_rules.h"

// Entry points glibc exports but its headers declare only with _FORTIFY_SOURCE,
// or no longer at all (the stat functions of binaries built before glibc 2.33).
extern "C" {
int __open_2(const char* path, int flags) noexcept;
int __open64_2(const char* path, int flags) noexcept;
int __openat_2(int dirfd, const char* path, int flags) noexcept;
int __openat64_2(int dirfd, const char* path, int flags) noexcept;
ssize_t __readlink_chk(const char* path, char* buf, size_t len, size_t buflen) noexcept;
ssize_t __readlinkat_chk(int dirfd, const char* path, char* buf, size_t len, size_t buflen) noexcept;
int __xstat(int ver, const char* path, struct stat* buf) noexcept;
int __xstat64(int ver, const char* path, struct stat64* buf) noexcept;
int __lxstat(int ver, const char* path, struct stat* buf) noexcept;
int __lxstat64(int ver, const char* path, struct stat64* buf) noexcept;
int __fxstatat(int ver, int dirfd, const char* path, struct stat* buf, int flags) noexcept;
int __fxstatat64(int ver, int dirfd, const char* path, struct stat64* buf, int flags) noexcept;
}

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(open);
VPROC_REAL(open64);
VPROC_REAL(openat);
VPROC_REAL(openat64);
VPROC_REAL(__open_2);
VPROC_REAL(__open64_2);
VPROC_REAL(__openat_2);
VPROC_REAL(__openat64_2);
VPROC_REAL(creat);
VPROC_REAL(creat64);
VPROC_REAL(fopen);
VPROC_REAL(fopen64);
VPROC_REAL(freopen);
VPROC_REAL(freopen64);
VPROC_REAL(opendir);
VPROC_REAL(stat);
VPROC_REAL(stat64);
VPROC_REAL(lstat);
VPROC_REAL(lstat64);
VPROC_REAL(fstatat);
VPROC_REAL(fstatat64);
VPROC_REAL(__xstat);
VPROC_REAL(__xstat64);
VPROC_REAL(__lxstat);
VPROC_REAL(__lxstat64);
VPROC_REAL(__fxstatat);
VPROC_REAL(__fxstatat64);
VPROC_REAL(statx);
VPROC_REAL(readlink);
VPROC_REAL(readlinkat);
VPROC_REAL(__readlink_chk);
VPROC_REAL(__readlinkat_chk);
VPROC_REAL(access);
VPROC_REAL(faccessat);
VPROC_REAL(euidaccess);
VPROC_REAL(eaccess);
VPROC_REAL(chdir);
VPROC_REAL(truncate);
VPROC_REAL(truncate64);

namespace {

// -1 or NULL with errno = err (a -errno value).
template <typename R>
R fail_as(int err) {
  errno = -err;
  if constexpr (std::is_pointer_v<R>)
    return nullptr;
  else
    return R(-1);
}

// `call(kernel_path)` for the program's path: the real call, with the path
// translated when it is one of ours.
template <typename Call>
auto via_proc_path(const char* path, Call call) -> decltype(call(path)) {
  path = opaque(path);
  if (!starts_with_proc(path) || !active()) return call(path);
  KernelPath kp;
  if (int e = resolve_proc_path(path, &kp)) return fail_as<decltype(call(path))>(e);
  return call(kp.path);
}

// via_proc_path for the *at() calls: a relative path under a /proc directory
// descriptor is handled as the absolute path it names.
template <typename Call>
auto via_proc_path_at(int dirfd, const char* path, Call call) -> decltype(call(path)) {
  char abs[PATH_MAX];
  if (dirfd != AT_FDCWD && active()) path = proc_dirfd_path(dirfd, opaque(path), abs);
  return via_proc_path(path, call);
}

// The open family: like via_proc_path, but a status/stat file opened for
// reading becomes a snapshot.
template <typename Call>
int open_via_proc(int dirfd, const char* path, int flags, mode_t mode, Call call) {
  path = opaque(path);
  char abs[PATH_MAX];
  if (dirfd != AT_FDCWD && active()) path = proc_dirfd_path(dirfd, path, abs);
  if (!starts_with_proc(path) || !active()) return call(path);
  KernelPath kp;
  if (int e = resolve_proc_path(path, &kp)) return fail_errno(e);
  if (!wants_proc_snapshot(kp.info.leaf, flags)) return call(kp.path);
  long fd = open_proc_snapshot(dirfd, kp.path, flags, mode, kp.info.leaf);
  return fd < 0 ? fail_errno(int(fd)) : int(fd);
}

mode_t mode_arg(int flags, va_list ap) {
  // As glibc: the mode argument exists only when the flags need one.
  return __OPEN_NEEDS_MODE(flags) ? mode_t(va_arg(ap, int)) : 0;
}

// fopen modes: "r" without "+" reads only; "e" asks for close-on-exec. The
// characters after a ',' (",ccs=...") are not flags.
bool mode_has(const char* mode, char c) {
  for (const char* m = mode; *m && *m != ','; ++m)
    if (*m == c) return true;
  return false;
}
bool read_only_mode(const char* mode) { return mode && mode[0] == 'r' && !mode_has(mode, '+'); }

template <typename Real>
FILE* fopen_common(Real& real, const char* path, const char* mode) {
  path = opaque(path);
  if (!starts_with_proc(path) || !active()) return real(path, mode);
  KernelPath kp;
  if (int e = resolve_proc_path(path, &kp)) return fail_as<FILE*>(e);
  if (!read_only_mode(mode) || kp.info.leaf == ProcLeaf::Other) return real(kp.path, mode);
  int flags = O_RDONLY | (mode_has(mode, 'e') ? O_CLOEXEC : 0);
  long fd = open_proc_snapshot(AT_FDCWD, kp.path, flags, 0, kp.info.leaf);
  if (fd < 0) return fail_as<FILE*>(int(fd));
  FILE* f = fdopen(int(fd), mode);
  if (!f) {
    int saved = errno;
    raw::sys(SYS_close, fd);
    errno = saved;
  }
  return f;
}

template <typename Real>
FILE* freopen_common(Real& real, const char* path, const char* mode, FILE* stream) {
  path = opaque(path);
  if (!starts_with_proc(path) || !active()) return real(path, mode, stream);
  KernelPath kp;
  // On failure freopen still closes the stream, in glibc's own way: let it
  // fail. The program's path fails like ours (a vpid is no /proc entry).
  if (resolve_proc_path(path, &kp) != 0) return real(path, mode, stream);
  if (!read_only_mode(mode) || kp.info.leaf == ProcLeaf::Other) return real(kp.path, mode, stream);
  long fd = open_proc_snapshot(AT_FDCWD, kp.path, O_RDONLY | O_CLOEXEC, 0, kp.info.leaf);
  if (fd < 0) return real(kp.path, mode, stream);
  // The stream must keep its identity (stdin stays fd 0): glibc's freopen
  // reopens the snapshot through its /proc/self/fd link and keeps the number.
  char self_fd[32] = "/proc/self/fd/";
  size_t p = 14;
  p += proc_text::format_decimal(uint64_t(fd), self_fd + p, sizeof self_fd - p - 1);
  self_fd[p] = '\0';
  FILE* f = real(self_fd, mode, stream);
  int saved = errno;
  raw::sys(SYS_close, fd);
  errno = saved;
  return f;
}

// readlink/readlinkat through `call(kernel_path, buf, size)`.
template <typename Call>
ssize_t readlink_via_proc(const char* path, char* buf, size_t bufsiz, Call call) {
  path = opaque(path);
  if (!starts_with_proc(path) || !active() || bufsiz == 0) return call(path, buf, bufsiz);
  KernelPath kp;
  if (int e = resolve_proc_path(path, &kp)) return fail_errno(e);
  // The whole target first: translating a truncated one could go wrong.
  char target[PATH_MAX];
  ssize_t n = call(kp.path, target, sizeof target);
  if (n < 0) return n;
  if (size_t(n) == sizeof target) return call(kp.path, buf, bufsiz);  // too long to be ours
  // After a restore the kernel may still name vproc-restorer here.
  if (const char* exe = restored_exe_for(kp.path)) {
    size_t len = strlen(exe);
    if (len < sizeof target) {
      memcpy(target, exe, len);
      n = ssize_t(len);
    }
  }
  return proc_link_result(target, size_t(n), kp.info, buf, bufsiz, kp.buf);
}

}  // namespace

VPROC_EXPORT int open(const char* path, int flags, ...) noexcept {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return open_via_proc(AT_FDCWD, path, flags, mode,
                       [&](const char* p) { return real_open(p, flags, mode); });
}

VPROC_EXPORT int open64(const char* path, int flags, ...) noexcept {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return open_via_proc(AT_FDCWD, path, flags, mode,
                       [&](const char* p) { return real_open64(p, flags, mode); });
}

VPROC_EXPORT int openat(int dirfd, const char* path, int flags, ...) noexcept {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return open_via_proc(dirfd, path, flags, mode,
                       [&](const char* p) { return real_openat(dirfd, p, flags, mode); });
}

VPROC_EXPORT int openat64(int dirfd, const char* path, int flags, ...) noexcept {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return open_via_proc(dirfd, path, flags, mode,
                       [&](const char* p) { return real_openat64(dirfd, p, flags, mode); });
}

// The fortified opens abort when the flags need a mode they cannot have: the
// real ones do that, before we look at the path.
VPROC_EXPORT int __open_2(const char* path, int flags) noexcept {
  if (__OPEN_NEEDS_MODE(flags)) return real___open_2(path, flags);
  return open_via_proc(AT_FDCWD, path, flags, 0, [&](const char* p) { return real___open_2(p, flags); });
}

VPROC_EXPORT int __open64_2(const char* path, int flags) noexcept {
  if (__OPEN_NEEDS_MODE(flags)) return real___open64_2(path, flags);
  return open_via_proc(AT_FDCWD, path, flags, 0, [&](const char* p) { return real___open64_2(p, flags); });
}

VPROC_EXPORT int __openat_2(int dirfd, const char* path, int flags) noexcept {
  if (__OPEN_NEEDS_MODE(flags)) return real___openat_2(dirfd, path, flags);
  return open_via_proc(dirfd, path, flags, 0,
                       [&](const char* p) { return real___openat_2(dirfd, p, flags); });
}

VPROC_EXPORT int __openat64_2(int dirfd, const char* path, int flags) noexcept {
  if (__OPEN_NEEDS_MODE(flags)) return real___openat64_2(dirfd, path, flags);
  return open_via_proc(dirfd, path, flags, 0,
                       [&](const char* p) { return real___openat64_2(dirfd, p, flags); });
}

VPROC_EXPORT int creat(const char* path, mode_t mode) noexcept {
  return via_proc_path(path, [&](const char* p) { return real_creat(p, mode); });
}

VPROC_EXPORT int creat64(const char* path, mode_t mode) noexcept {
  return via_proc_path(path, [&](const char* p) { return real_creat64(p, mode); });
}

VPROC_EXPORT FILE* fopen(const char* path, const char* mode) noexcept {
  return fopen_common(real_fopen, path, mode);
}

VPROC_EXPORT FILE* fopen64(const char* path, const char* mode) noexcept {
  return fopen_common(real_fopen64, path, mode);
}

VPROC_EXPORT FILE* freopen(const char* path, const char* mode, FILE* stream) noexcept {
  return freopen_common(real_freopen, path, mode, stream);
}

VPROC_EXPORT FILE* freopen64(const char* path, const char* mode, FILE* stream) noexcept {
  return freopen_common(real_freopen64, path, mode, stream);
}

VPROC_EXPORT DIR* opendir(const char* path) noexcept {
  return via_proc_path(path, [&](const char* p) { return watch_proc_task_dir(real_opendir(p), p); });
}

VPROC_EXPORT int stat(const char* path, struct stat* buf) noexcept {
  return via_proc_path(path, [&](const char* p) { return real_stat(p, buf); });
}

VPROC_EXPORT int stat64(const char* path, struct stat64* buf) noexcept {
  return via_proc_path(path, [&](const char* p) { return real_stat64(p, buf); });
}

VPROC_EXPORT int lstat(const char* path, struct stat* buf) noexcept {
  return via_proc_path(path, [&](const char* p) { return real_lstat(p, buf); });
}

VPROC_EXPORT int lstat64(const char* path, struct stat64* buf) noexcept {
  return via_proc_path(path, [&](const char* p) { return real_lstat64(p, buf); });
}

VPROC_EXPORT int fstatat(int dirfd, const char* path, struct stat* buf, int flags) noexcept {
  return via_proc_path_at(dirfd, path, [&](const char* p) { return real_fstatat(dirfd, p, buf, flags); });
}

VPROC_EXPORT int fstatat64(int dirfd, const char* path, struct stat64* buf, int flags) noexcept {
  return via_proc_path_at(dirfd, path, [&](const char* p) { return real_fstatat64(dirfd, p, buf, flags); });
}

VPROC_EXPORT int __xstat(int ver, const char* path, struct stat* buf) noexcept {
  return via_proc_path(path, [&](const char* p) { return real___xstat(ver, p, buf); });
}

VPROC_EXPORT int __xstat64(int ver, const char* path, struct stat64* buf) noexcept {
  return via_proc_path(path, [&](const char* p) { return real___xstat64(ver, p, buf); });
}

VPROC_EXPORT int __lxstat(int ver, const char* path, struct stat* buf) noexcept {
  return via_proc_path(path, [&](const char* p) { return real___lxstat(ver, p, buf); });
}

VPROC_EXPORT int __lxstat64(int ver, const char* path, struct stat64* buf) noexcept {
  return via_proc_path(path, [&](const char* p) { return real___lxstat64(ver, p, buf); });
}

VPROC_EXPORT int __fxstatat(int ver, int dirfd, const char* path, struct stat* buf, int flags) noexcept {
  return via_proc_path_at(dirfd, path, [&](const char* p) { return real___fxstatat(ver, dirfd, p, buf, flags); });
}

VPROC_EXPORT int __fxstatat64(int ver, int dirfd, const char* path, struct stat64* buf,
                              int flags) noexcept {
  return via_proc_path_at(dirfd, path,
                       [&](const char* p) { return real___fxstatat64(ver, dirfd, p, buf, flags); });
}

VPROC_EXPORT int statx(int dirfd, const char* path, int flags, unsigned int mask,
                       struct statx* buf) noexcept {
  return via_proc_path_at(dirfd, path, [&](const char* p) { return real_statx(dirfd, p, flags, mask, buf); });
}

VPROC_EXPORT ssize_t readlink(const char* path, char* buf, size_t bufsiz) noexcept {
  return readlink_via_proc(path, buf, bufsiz,
                           [&](const char* p, char* b, size_t n) { return real_readlink(p, b, n); });
}

VPROC_EXPORT ssize_t readlinkat(int dirfd, const char* path, char* buf, size_t bufsiz) noexcept {
  return readlink_via_proc(path, buf, bufsiz, [&](const char* p, char* b, size_t n) {
    return real_readlinkat(dirfd, p, b, n);
  });
}

// The fortified readlinks check the buffer size (and abort) in the real one.
VPROC_EXPORT ssize_t __readlink_chk(const char* path, char* buf, size_t len, size_t buflen) noexcept {
  if (len > buflen) return real___readlink_chk(path, buf, len, buflen);
  return readlink(path, buf, len);
}

VPROC_EXPORT ssize_t __readlinkat_chk(int dirfd, const char* path, char* buf, size_t len,
                                      size_t buflen) noexcept {
  if (len > buflen) return real___readlinkat_chk(dirfd, path, buf, len, buflen);
  return readlinkat(dirfd, path, buf, len);
}

VPROC_EXPORT int access(const char* path, int mode) noexcept {
  return via_proc_path(path, [&](const char* p) { return real_access(p, mode); });
}

VPROC_EXPORT int faccessat(int dirfd, const char* path, int mode, int flags) noexcept {
  return via_proc_path_at(dirfd, path, [&](const char* p) { return real_faccessat(dirfd, p, mode, flags); });
}

VPROC_EXPORT int euidaccess(const char* path, int mode) noexcept {
  return via_proc_path(path, [&](const char* p) { return real_euidaccess(p, mode); });
}

VPROC_EXPORT int eaccess(const char* path, int mode) noexcept {
  return via_proc_path(path, [&](const char* p) { return real_eaccess(p, mode); });
}

VPROC_EXPORT int chdir(const char* path) noexcept {
  return via_proc_path(path, [&](const char* p) { return real_chdir(p); });
}

VPROC_EXPORT int truncate(const char* path, off_t length) noexcept {
  return via_proc_path(path, [&](const char* p) { return real_truncate(p, length); });
}

VPROC_EXPORT int truncate64(const char* path, off64_t length) noexcept {
  return via_proc_path(path, [&](const char* p) { return real_truncate64(p, length); });
}

namespace vproc::lib::sys {

long openat2(int dirfd, const char* path, const struct open_how* how, size_t size) {
  path = opaque(path);
  if (!starts_with_proc(path)) return raw::sys(SYS_openat2, dirfd, path, how, size);
  KernelPath kp;
  if (int e = resolve_proc_path(path, &kp)) return e;
  // RESOLVE_* restrictions are the kernel's to apply: no snapshot under them.
  if (how && size >= sizeof(struct open_how) && how->resolve == 0 &&
      wants_proc_snapshot(kp.info.leaf, int(how->flags)))
    return open_proc_snapshot(dirfd, kp.path, int(how->flags), mode_t(how->mode), kp.info.leaf);
  return raw::sys(SYS_openat2, dirfd, kp.path, how, size);
}

}  // namespace vproc::lib::sys
