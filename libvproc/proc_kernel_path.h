// The library's side of /proc paths (proc_path.h with this process's
// translations): what the kernel must be given for a path the program passed,
// and what the program must see of a /proc link the kernel read.
#pragma once

#include <linux/limits.h>
#include <sys/types.h>

#include "proc_path.h"

namespace vproc::lib {

// The translations of translate.h as an IdMap.
const IdMap& process_id_map();

struct KernelPath {
  const char* path = nullptr;  // what to pass to the kernel (the program's, or buf)
  ProcPathInfo info;
  char buf[PATH_MAX];
};

// Resolves the program's `path` (which starts with "/proc/") into *kp. Returns 0,
// or -errno: -ENOENT for a vpid that names nothing here (the kernel's answer for
// a missing /proc entry), -ENAMETOOLONG.
int resolve_proc_path(const char* path, KernelPath* kp);

// For a *at() call: if `path` is relative and `dirfd` is a directory inside /proc
// (e.g. openat(open("/proc"), "<vpid>/status")), writes the equivalent absolute
// path into buf (PATH_MAX bytes) and returns it; otherwise returns `path`. Only
// relative paths that could name a process ("<digits>...", "self...",
// "thread-self...") or a per-process file ("status", "stat") cost the one
// readlink of /proc/self/fd/<dirfd> this needs.
const char* proc_dirfd_path(int dirfd, const char* path, char* buf);

// A readlink() result from the kernel (`n` bytes in `target`) for the link
// described by `info`, as the program must see it, copied to buf (bufsiz bytes,
// truncated like readlink). Returns the number of bytes placed in buf.
// `scratch` (PATH_MAX bytes) is working space.
ssize_t proc_link_result(const char* target, size_t n, const ProcPathInfo& info, char* buf,
                         size_t bufsiz, char* scratch);

// Hides from the compiler what a libc prototype claims about a pointer (e.g.
// __nonnull): a program that passes NULL gets the kernel's EFAULT, not a crash
// in our wrapper.
inline const char* opaque(const char* p) {
  __asm__("" : "+r"(p));
  return p;
}

}  // namespace vproc::lib
