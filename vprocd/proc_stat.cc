#include "proc_stat.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vproc::daemon {

bool read_small_file(const char* path, std::string& out, size_t limit) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out.clear();
  char buf[4096];
  bool ok = true;
  while (out.size() < limit) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      // ESRCH: the process died between open and read.
      ok = false;
      break;
    }
    if (n == 0) break;
    out.append(buf, std::min(size_t(n), limit - out.size()));
  }
  close(fd);
  return ok;
}

namespace {

// Reads an unsigned decimal at `p`, advancing it; false if there is none.
bool take_number(const char*& p, const char* end, int64_t& v) {
  while (p < end && *p == ' ') ++p;
  bool neg = p < end && *p == '-';
  if (neg) ++p;
  if (p >= end || *p < '0' || *p > '9') return false;
  int64_t x = 0;
  while (p < end && *p >= '0' && *p <= '9') x = x * 10 + (*p++ - '0');
  v = neg ? -x : x;
  return true;
}

bool skip_field(const char*& p, const char* end) {
  while (p < end && *p == ' ') ++p;
  if (p >= end) return false;
  while (p < end && *p != ' ') ++p;
  return true;
}

}  // namespace

bool parse_proc_stat(const char* text, size_t len, ProcStat& out) {
  // comm is "(...)" and may contain anything, so fields start after the LAST ')'.
  const char* end = text + len;
  const char* close_paren = nullptr;
  for (const char* p = text; p < end; ++p)
    if (*p == ')') close_paren = p;
  if (!close_paren) return false;
  const char* p = close_paren + 1;
  while (p < end && *p == ' ') ++p;
  if (p >= end) return false;
  out.state = *p++;  // field 3
  int64_t v;
  if (!take_number(p, end, v)) return false;  // 4 ppid
  out.ppid = uint32_t(v);
  if (!take_number(p, end, v)) return false;  // 5 pgrp
  out.pgrp = int32_t(v);
  if (!take_number(p, end, v)) return false;  // 6 session
  out.session = int32_t(v);
  for (int field = 7; field < 22; ++field)
    if (!skip_field(p, end)) return false;
  if (!take_number(p, end, v)) return false;  // 22 starttime
  out.start_ticks = uint64_t(v);
  return true;
}

namespace {

bool read_stat_path(const char* path, ProcStat& out) {
  std::string text;
  if (!read_small_file(path, text, 2048)) return false;
  return parse_proc_stat(text.data(), text.size(), out);
}

}  // namespace

bool read_proc_stat(RealPid pid, ProcStat& out) {
  if (!pid || pid.value >= kRealPidLimit) return false;
  char path[48];
  snprintf(path, sizeof path, "/proc/%u/stat", pid.value);
  return read_stat_path(path, out);
}

bool read_task_stat(RealPid tgid, RealPid tid, ProcStat& out) {
  if (!tgid || !tid || tgid.value >= kRealPidLimit || tid.value >= kRealPidLimit) return false;
  char path[64];
  snprintf(path, sizeof path, "/proc/%u/task/%u/stat", tgid.value, tid.value);
  return read_stat_path(path, out);
}

bool process_matches(RealPid pid, uint64_t start_ticks) {
  ProcStat st;
  return read_proc_stat(pid, st) && st.start_ticks == start_ticks;
}

bool parse_uid_line(const char* text, size_t len, ProcUids& out) {
  const char* end = text + len;
  for (const char* line = text; line < end;) {
    const char* nl = static_cast<const char*>(memchr(line, '\n', size_t(end - line)));
    const char* line_end = nl ? nl : end;
    if (line_end - line > 4 && memcmp(line, "Uid:", 4) == 0) {
      const char* p = line + 4;
      int64_t v[4];
      for (int i = 0; i < 4; ++i) {
        while (p < line_end && (*p == '\t' || *p == ' ')) ++p;
        if (!take_number(p, line_end, v[i]) || v[i] < 0) return false;
      }
      out = {uint32_t(v[0]), uint32_t(v[1]), uint32_t(v[2]), uint32_t(v[3])};
      return true;
    }
    line = line_end + 1;
  }
  return false;
}

bool read_proc_uids(RealPid pid, ProcUids& out) {
  if (!pid || pid.value >= kRealPidLimit) return false;
  char path[48];
  snprintf(path, sizeof path, "/proc/%u/status", pid.value);
  std::string text;
  if (!read_small_file(path, text, 8192)) return false;
  return parse_uid_line(text.data(), text.size(), out);
}

bool parse_sigcgt_line(const char* text, size_t len, uint64_t& out) {
  const char* end = text + len;
  for (const char* line = text; line < end;) {
    const char* nl = static_cast<const char*>(memchr(line, '\n', size_t(end - line)));
    const char* line_end = nl ? nl : end;
    if (line_end - line > 7 && memcmp(line, "SigCgt:", 7) == 0) {
      const char* p = line + 7;
      while (p < line_end && (*p == '\t' || *p == ' ')) ++p;
      uint64_t v = 0;
      int digits = 0;
      for (; p < line_end && isxdigit(static_cast<unsigned char>(*p)); ++p, ++digits)
        v = v << 4 | uint64_t(isdigit(static_cast<unsigned char>(*p)) ? *p - '0' : (*p | 0x20) - 'a' + 10);
      if (digits == 0 || digits > 16) return false;
      out = v;
      return true;
    }
    line = line_end + 1;
  }
  return false;
}

bool read_caught_signals(RealPid pid, uint64_t& out) {
  if (!pid || pid.value >= kRealPidLimit) return false;
  char path[48];
  snprintf(path, sizeof path, "/proc/%u/status", pid.value);
  std::string text;
  if (!read_small_file(path, text, 8192)) return false;
  return parse_sigcgt_line(text.data(), text.size(), out);
}

bool read_cmdline(RealPid pid, std::vector<std::string>& out) {
  out.clear();
  if (!pid || pid.value >= kRealPidLimit) return false;
  char path[48];
  snprintf(path, sizeof path, "/proc/%u/cmdline", pid.value);
  std::string text;
  if (!read_small_file(path, text, 128 * 1024)) return false;
  size_t start = 0;
  while (start < text.size()) {
    size_t nul = text.find('\0', start);
    if (nul == std::string::npos) nul = text.size();
    out.emplace_back(text, start, nul - start);
    start = nul + 1;
  }
  return true;
}

const char* state_word(char state) {
  switch (state) {
    case 'R': return "running";
    case 'S': return "sleeping";
    case 'D': return "disk-wait";
    case 'T': return "stopped";
    case 't': return "traced";
    case 'Z': return "zombie";
    case 'X': return "dead";
    case 'I': return "idle";
    case 'P': return "parked";
    case 'W': return "waking";
    default: return "unknown";
  }
}

uint64_t boot_time_ms() {
  std::string text;
  if (!read_small_file("/proc/stat", text, 1 << 20)) return 0;
  size_t at = text.find("\nbtime ");
  if (at == std::string::npos) return 0;
  return strtoull(text.c_str() + at + 7, nullptr, 10) * 1000;
}

uint64_t start_time_ms(uint64_t boot_ms, uint64_t start_ticks) {
  static const long hz = sysconf(_SC_CLK_TCK);
  long ticks_per_s = hz > 0 ? hz : 100;
  return boot_ms + start_ticks * 1000 / uint64_t(ticks_per_s);
}

}  // namespace vproc::daemon
