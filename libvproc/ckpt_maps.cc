#include "ckpt_maps.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "raw_syscall.h"

namespace vproc::lib {
namespace {

uint64_t hex(const char*& p) {
  uint64_t v = 0;
  for (;; ++p) {
    char c = *p;
    if (c >= '0' && c <= '9') v = v * 16 + uint64_t(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + uint64_t(c - 'a' + 10);
    else break;
  }
  return v;
}

uint64_t dec(const char*& p) {
  uint64_t v = 0;
  for (; *p >= '0' && *p <= '9'; ++p) v = v * 10 + uint64_t(*p - '0');
  return v;
}

}  // namespace

long read_proc_file(Scratch& scratch, const char* path, char** out) {
  long fd = raw::sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fd;
  // /proc files have no size: read into a growing run of the scratch area
  // (what follows in it is only taken after we are done).
  size_t cap = 1 << 16, len = 0;
  char* buf = static_cast<char*>(scratch.take(cap, 4096));
  if (!buf) {
    raw::sys(SYS_close, fd);
    return -ENOMEM;
  }
  for (;;) {
    if (len + 4096 >= cap) {
      if (!scratch.take(cap, 1)) {  // extends the same run: nothing was taken after buf
        raw::sys(SYS_close, fd);
        return -ENOMEM;
      }
      cap *= 2;
    }
    long n = raw::sys(SYS_read, fd, buf + len, cap - len - 1);
    if (n == -EINTR) continue;
    if (n < 0) {
      raw::sys(SYS_close, fd);
      return n;
    }
    if (n == 0) break;
    len += size_t(n);
  }
  raw::sys(SYS_close, fd);
  buf[len] = 0;
  *out = buf;
  return long(len);
}

bool read_maps(Scratch& scratch, MapList& out) {
  char* text;
  long len = read_proc_file(scratch, "/proc/self/maps", &text);
  if (len < 0) return false;
  int lines = 0;
  for (long i = 0; i < len; ++i) lines += text[i] == '\n';
  out.entries = scratch.take_array<MapEntry>(size_t(lines) + 1);
  if (!out.entries) return false;
  out.count = 0;
  const char* p = text;
  while (*p) {
    MapEntry& e = out.entries[out.count];
    e.start = hex(p);
    if (*p++ != '-') return false;
    e.end = hex(p);
    if (*p++ != ' ') return false;
    e.prot = (p[0] == 'r' ? PROT_READ : 0) | (p[1] == 'w' ? PROT_WRITE : 0) | (p[2] == 'x' ? PROT_EXEC : 0);
    e.shared = p[3] == 's';
    p += 5;
    e.offset = hex(p);
    ++p;
    uint64_t major = hex(p);
    ++p;
    uint64_t minor = hex(p);
    e.dev = makedev(major, minor);
    ++p;
    e.ino = dec(p);
    while (*p == ' ') ++p;
    char* name = const_cast<char*>(p);
    while (*p && *p != '\n') ++p;
    if (*p == '\n') {
      *const_cast<char*>(p) = 0;  // terminate the name in place
      ++p;
    }
    e.name = name;
    ++out.count;
  }
  return true;
}

}  // namespace vproc::lib
