// /proc/<pid>/status and /proc/<pid>/stat as the program must see them: a
// snapshot of the real file, with its pid fields rewritten (proc_rewrite.h),
// in an anonymous memory file.
//
// The kernel generates these files on each read from the task's live state, so
// their pid fields cannot be changed on the way. Reading the whole file once at
// open time and serving the rewritten copy gives the program the same text it
// would have read at that moment. Known difference: reading the same descriptor
// again after lseek(0) shows the same snapshot, not fresh values.
#pragma once

#include <sys/types.h>

#include "proc_path.h"

namespace vproc::lib {

// True when an open() of a `leaf` file with `flags` gets a snapshot: reading
// only (no O_PATH, which opens no contents).
bool wants_proc_snapshot(ProcLeaf leaf, int flags);

// Opens the real file at kpath (relative to dirfd) with the program's flags, so
// every error is the kernel's own, and returns a read-only descriptor on the
// rewritten snapshot, with the program's close-on-exec and non-blocking flags.
// The descriptor number is the one the real open would have returned (the
// lowest free). Returns the fd or -errno.
long open_proc_snapshot(int dirfd, const char* kpath, int flags, mode_t mode, ProcLeaf leaf);

}  // namespace vproc::lib
