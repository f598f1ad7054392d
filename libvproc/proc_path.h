// Paths into /proc that name a process or thread, in both directions.
//
// Program -> kernel: "/proc/<vpid>/...", "/proc/<pid>/task/<vtid>/..." and the
// self / thread-self forms get their virtual ids replaced by real ones. The
// kernel resolves "self" and "thread-self" to the caller itself, which is right
// already; they are parsed so a status/stat leaf below them is recognised.
//
// Kernel -> program (readlink results): "/proc/self" reads "<pid>" and
// "/proc/thread-self" reads "<pid>/task/<tid>"; an absolute "/proc/<n>/..."
// target (a descriptor opened on a /proc directory) names a real id too.
//
// Pure: no system calls, no state; translations come from an IdMap.
#pragma once

#include <cstddef>
#include <cstdint>

#include "proc_text.h"

namespace vproc::lib {

// The file a /proc path names, when it is one whose contents carry pids that
// wrap_proc_paths.cc rewrites (proc_rewrite.h).
enum class ProcLeaf : uint8_t {
  Other,
  Status,  // /proc/<n>/status, /proc/<n>/task/<m>/status, self/thread-self forms
  Stat,    // the same with "stat"
};

// Whether the path is exactly one of the two magic links (readlink translates
// their relative targets).
enum class ProcLink : uint8_t { None, Self, ThreadSelf };

struct ProcPathInfo {
  ProcLeaf leaf = ProcLeaf::Other;
  ProcLink link = ProcLink::None;
};

enum class ProcPathResult : uint8_t {
  Unchanged,      // nothing to translate: use the program's path (info is still set)
  Rewritten,      // use the rewritten path (NUL-terminated)
  NoSuchProcess,  // a virtual id in the path maps to nothing here (callers: ENOENT)
  TooLong,        // the result does not fit the caller's buffer (callers: ENAMETOOLONG)
};

// The cheap test every path wrapper does first: does `path` start with "/proc/"?
inline bool starts_with_proc(const char* p) {
  return p && p[0] == '/' && p[1] == 'p' && p[2] == 'r' && p[3] == 'o' && p[4] == 'c' &&
         p[5] == '/';
}

// Rewrites virtual ids in `path` (program's view) into `out` (cap bytes, NUL
// included) and describes the path in *info. Repeated slashes are accepted as
// the kernel accepts them and kept as they are; ".." and "." are not resolved.
ProcPathResult rewrite_proc_path(const char* path, const IdMap& map, char* out, size_t cap,
                                 ProcPathInfo* info);

// Whether `path` (as given to the kernel) is a thread-list directory:
// "/proc/<n>/task" or "/proc/self/task", with any trailing slashes. Its entries
// are real tids, which a directory reader translates (wrap_readdir.cc).
bool is_proc_task_dir(const char* path);

// Translates a readlink() result (`target`, `len` bytes, not NUL-terminated) of
// the link `link` from real ids to virtual ones. The result goes to `out` (not
// NUL-terminated) with its length in *out_len. Never NoSuchProcess: an id that is
// not ours stays as it is.
ProcPathResult proc_link_to_virtual(const char* target, size_t len, ProcLink link,
                                    const IdMap& map, char* out, size_t cap, size_t* out_len);

}  // namespace vproc::lib
