// Raw x86-64 system calls, for code that must be async-signal-safe (the preload
// library, signal handlers, the shared-table reader). No errno: results are the
// kernel's, i.e. -errno on failure.
#pragma once

#include <cstdint>

namespace vproc::raw {

inline long syscall6(long n, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0,
                     long a6 = 0) {
  long ret;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = a6;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

template <typename... A>
inline long sys(long n, A... a) {
  return syscall6(n, (long)a...);
}

inline bool failed(long r) { return r < 0 && r > -4096; }

}  // namespace vproc::raw
