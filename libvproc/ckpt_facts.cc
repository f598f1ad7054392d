#include "ckpt_facts.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>

#include <cstring>

#include "raw_syscall.h"
#include "state.h"

namespace vproc::lib {
namespace {

const char* read_link(Scratch& s, const char* path) {
  char* buf = static_cast<char*>(s.take(4097, 1));
  if (!buf) return "";
  long n = raw::sys(SYS_readlinkat, AT_FDCWD, path, buf, 4096);
  buf[n > 0 ? n : 0] = 0;
  return buf;
}

uint64_t now(clockid_t c) {
  struct timespec ts {};
  raw::sys(SYS_clock_gettime, c, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// /proc/self/stat fields after the command name (which may contain spaces
// and parentheses: skip to the last ')').
void parse_stat(const char* text, ProcessFacts& f) {
  const char* p = strrchr(text, ')');
  if (!p) return;
  p += 2;  // field 3 starts here
  uint64_t fields[53] = {};
  for (int i = 3; i <= 52 && *p; ++i) {
    uint64_t v = 0;
    bool neg = *p == '-';
    if (neg) ++p;
    for (; *p >= '0' && *p <= '9'; ++p) v = v * 10 + uint64_t(*p - '0');
    fields[i] = neg ? 0 : v;
    while (*p && *p != ' ') ++p;
    if (*p == ' ') ++p;
  }
  f.mm[0] = fields[26];  // start_code
  f.mm[1] = fields[27];  // end_code
  f.mm[2] = fields[45];  // start_data
  f.mm[3] = fields[46];  // end_data
  f.mm[4] = fields[47];  // start_brk
  f.mm[6] = fields[28];  // start_stack
  f.mm[7] = fields[48];  // arg_start
  f.mm[8] = fields[49];  // arg_end
  f.mm[9] = fields[50];  // env_start
  f.mm[10] = fields[51];  // env_end
}

uint64_t xgetbv0() {
  unsigned a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
  if (!(c & (1u << 27))) return 0;  // no OSXSAVE
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

}  // namespace

int collect_facts(Scratch& s, ProcessFacts& f) {
  ProcessState& st = state();
  memset(&f, 0, sizeof f);
  f.vpid = st.self.value;
  f.parent = st.parent;
  f.node = st.node_index;
  f.uid = uint32_t(raw::sys(SYS_getuid));
  f.gid = uint32_t(raw::sys(SYS_getgid));
  f.real_pid = st.self_real.value;
  f.exe = st.ckpt.exe_path[0] ? st.ckpt.exe_path : read_link(s, "/proc/self/exe");
  f.cwd = read_link(s, "/proc/self/cwd");
  char* text;
  f.cmdline_len = read_proc_file(s, "/proc/self/cmdline", &text);
  f.cmdline = f.cmdline_len > 0 ? text : "";
  if (f.cmdline_len < 0) f.cmdline_len = 0;
  f.auxv_len = read_proc_file(s, "/proc/self/auxv", &text);
  f.auxv = text;
  if (f.auxv_len < 0) return int(f.auxv_len);
  for (long i = 0; i + 16 <= f.auxv_len; i += 16) {
    uint64_t k, v;
    memcpy(&k, f.auxv + i, 8);
    memcpy(&v, f.auxv + i + 8, 8);
    if (k == 16) f.hwcap = v;   // AT_HWCAP
    if (k == 26) f.hwcap2 = v;  // AT_HWCAP2
  }
  if (read_proc_file(s, "/proc/self/stat", &text) < 0) return -EIO;
  parse_stat(text, f);
  f.mm[5] = uint64_t(raw::sys(SYS_brk, 0));
  if (read_proc_file(s, "/proc/self/status", &text) >= 0) {
    const char* u = strstr(text, "\nUmask:");
    if (u) {
      u += 7;
      while (*u == ' ' || *u == '\t') ++u;
      for (; *u >= '0' && *u <= '7'; ++u) f.umask = f.umask * 8 + uint32_t(*u - '0');
    }
  }
  long n = read_proc_file(s, "/proc/self/comm", &text);
  if (n > 0 && text[n - 1] == '\n') text[n - 1] = 0;
  f.comm = n > 0 ? text : "";
  f.personality = uint32_t(raw::sys(SYS_personality, 0xffffffffUL));
  for (int r = 0; r < 16; ++r) {
    struct rlimit lim {};
    raw::sys(SYS_prlimit64, 0, r, nullptr, &lim);
    f.rlimits[r][0] = lim.rlim_cur;
    f.rlimits[r][1] = lim.rlim_max;
  }
  for (int sig = 1; sig <= 64; ++sig) {
    uint64_t act[4] = {};
    if (sig != 9 && sig != 19) raw::sys(SYS_rt_sigaction, sig, nullptr, act, 8);
    memcpy(f.sigactions[sig - 1], act, sizeof act);
  }
  auto* un = static_cast<struct utsname*>(s.take(sizeof(struct utsname)));
  if (un && raw::sys(SYS_uname, un) == 0) {
    f.release = un->release;
    f.hostname = un->nodename;
  } else {
    f.release = f.hostname = "";
  }
  f.wall_ns = now(CLOCK_REALTIME);
  f.mono_ns = now(CLOCK_MONOTONIC);
  f.state_addr = reinterpret_cast<uint64_t>(&st.ckpt);
  f.generation = st.ckpt.generation;
  f.xcr0 = xgetbv0();
  return 0;
}

}  // namespace vproc::lib
