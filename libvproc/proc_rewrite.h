// The pid fields of /proc/<pid>/status and /proc/<pid>/stat, rewritten from the
// kernel's ids to the program's (virtual) ones. wrap_proc_paths.cc serves the
// result instead of the real file.
//
// Pure: no system calls, no state; translations come from an IdMap. Only the
// numbers change; every other byte is copied as it is.
#pragma once

#include <cstddef>

#include "proc_text.h"

namespace vproc::lib {

// status: Tgid, Ngid, Pid, PPid, TracerPid, and the first column of NStgid,
// NSpid, NSpgid, NSsid. The kernel lists the NS* ids from the pid namespace
// of the /proc mount (ours: the one the Pid: line uses) inward, so the first
// column is the one in our namespace; the others are ids inside nested
// namespaces and stay as they are. Zero ("none") is never translated.
//
// Returns the length written to out, or -ENOSPC if out is too small.
long rewrite_proc_status(const char* in, size_t len, const IdMap& map, char* out, size_t cap);

// stat: field 1 (the task's id), 4 (ppid), 5 (pgrp), 6 (session), 8 (tpgid;
// -1 without a terminal). Field 2 is the command name in parentheses, which
// may itself contain spaces and ')': the fields resume after the LAST ')'.
//
// Returns the length written to out, -ENOSPC if out is too small, or -EINVAL
// if `in` does not look like a stat line.
long rewrite_proc_stat(const char* in, size_t len, const IdMap& map, char* out, size_t cap);

}  // namespace vproc::lib
