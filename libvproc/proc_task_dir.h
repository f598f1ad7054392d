// Directory streams on thread-list directories (/proc/<pid>/task), whose
// entries readdir() translates into vtids (wrap_readdir.cc).
#pragma once

#include <dirent.h>

namespace vproc::lib {

// Registers `d` (opened on `kernel_path`, the path given to the kernel) when
// that path is a thread-list directory; returns `d`. Null passes through.
DIR* watch_proc_task_dir(DIR* d, const char* kernel_path);

}  // namespace vproc::lib
