// What the daemon reads from /proc about a process or thread.
//
// A pid alone does not name a process: the kernel reuses pids. The start time
// (field 22 of /proc/<pid>/stat, clock ticks since boot) never changes for a
// process and differs between two processes that had the same pid, so
// (pid, start_ticks) is the identity every check here relies on.
//
// These are lookups: false means "not there" (exited, or never existed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pid_types.h"

namespace vproc::daemon {

struct ProcStat {
  char state = '?';          // R S D T t Z X I ...
  uint32_t ppid = 0;         // tgid of the real parent
  int32_t pgrp = 0;
  int32_t session = 0;
  uint64_t start_ticks = 0;  // since boot, in sysconf(_SC_CLK_TCK) units
};

// Parses the text of a stat file ("pid (comm) S ppid ..."); comm may hold ')' and spaces.
bool parse_proc_stat(const char* text, size_t len, ProcStat& out);

// /proc/<pid>/stat. Also works for a thread id (the kernel serves hidden /proc/<tid>).
bool read_proc_stat(RealPid pid, ProcStat& out);
// /proc/<tgid>/task/<tid>/stat: only if `tid` is a thread of process `tgid`.
bool read_task_stat(RealPid tgid, RealPid tid, ProcStat& out);

// True while the process (or thread) with this pid and start time still exists,
// zombies included.
bool process_matches(RealPid pid, uint64_t start_ticks);

struct ProcUids {
  uint32_t real = 0, effective = 0, saved = 0, fs = 0;
};
// The "Uid:" line of /proc/<pid>/status.
bool read_proc_uids(RealPid pid, ProcUids& out);
// The text of the "Uid:" line (for tests and for parse reuse).
bool parse_uid_line(const char* status_text, size_t len, ProcUids& out);

// The "SigCgt:" line of /proc/<pid>/status: the signals the process has a
// handler for (bit n-1 for signal n).
bool read_caught_signals(RealPid pid, uint64_t& out);
bool parse_sigcgt_line(const char* status_text, size_t len, uint64_t& out);

// argv from /proc/<pid>/cmdline (empty for kernel threads and zombies).
bool read_cmdline(RealPid pid, std::vector<std::string>& out);

// One word for a stat state letter: "running", "sleeping", "zombie", ...
const char* state_word(char state);

// Wall-clock Unix time of boot in milliseconds (from /proc/stat "btime"), 0 if unknown.
uint64_t boot_time_ms();
// Unix time in milliseconds at which a process with this start time began.
uint64_t start_time_ms(uint64_t boot_ms, uint64_t start_ticks);

// Reads a whole small /proc file into `out` (up to `limit` bytes).
bool read_small_file(const char* path, std::string& out, size_t limit = 4096);

}  // namespace vproc::daemon
