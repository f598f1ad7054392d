// What the pure /proc text helpers (proc_path.cc, proc_rewrite.cc) need from the
// outside: which kind of id a number is, how to translate it, and decimal text.
//
// These helpers make no system calls and keep no state, so the unit tests run
// them with fake translations. In the library the callbacks are translate.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vproc::lib {

// The kind of id a number in a /proc path or file stands for. The kernel accepts
// a thread id wherever /proc expects a pid (hidden /proc/<tid> entries), so a
// Task is any task: a process's main thread or another thread.
enum class IdKind : uint8_t {
  Process,  // a thread group (tgid): PPid:, Tgid:, stat ppid
  Task,     // one task (tid): Pid:, NSpid:, stat field 1, /proc/<n>/task/<n>
  Group,    // a process group or session id
};

struct IdMap {
  // Kernel id -> what the program sees; an id that is not ours maps to itself.
  // (0 for a parent outside the pid namespace: a guest's keeper, translate.h.)
  long (*to_virtual)(IdKind kind, long real, void* ctx);
  // Program's id -> kernel id, or a negative errno (-ESRCH: no such vpid;
  // -EREMOTE: runs on another node). Called only for numbers in the virtual range.
  long (*to_real)(IdKind kind, long virt, void* ctx);
  void* ctx;
};

namespace proc_text {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Parses the decimal number in [s, s+n) the way the kernel's /proc lookup does
// (fs/proc/base.c name_to_int): digits only, no sign, no leading zero, fits in
// 31 bits. Returns -1 if it is not such a number.
inline long parse_pid_text(const char* s, size_t n) {
  if (n == 0 || n > 10 || (n > 1 && s[0] == '0')) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!is_digit(s[i])) return -1;
    v = v * 10 + uint64_t(s[i] - '0');
  }
  return v > 0x7fffffffu ? -1 : long(v);
}

// Writes the decimal text of v (>= 0) to out (no terminator); returns its length,
// or 0 if it does not fit in cap.
inline size_t format_decimal(uint64_t v, char* out, size_t cap) {
  char tmp[20];
  size_t n = 0;
  do tmp[n++] = char('0' + v % 10);
  while ((v /= 10) != 0);
  if (n > cap) return 0;
  for (size_t i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  return n;
}

// Bounded output cursor: append fails (and stays failed) once cap is exceeded.
struct Out {
  char* buf;
  size_t cap;
  size_t len = 0;
  bool overflow = false;

  void put(const char* s, size_t n) {
    if (overflow || n > cap - len) {
      overflow = true;
      return;
    }
    for (size_t i = 0; i < n; ++i) buf[len + i] = s[i];
    len += n;
  }
  void put_number(long v) {
    char tmp[21];
    size_t n = 0;
    if (v < 0) {
      tmp[n++] = '-';
      v = -v;
    }
    n += format_decimal(uint64_t(v), tmp + n, sizeof tmp - n);
    put(tmp, n);
  }
};

}  // namespace proc_text
}  // namespace vproc::lib
