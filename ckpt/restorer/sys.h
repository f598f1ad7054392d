/* Raw x86-64 system calls for vproc-restorer, which has no libc: every call
 * returns the kernel's value, -errno on failure. Constants come from the
 * kernel's uapi headers (plain #defines, usable without libc). */
#ifndef VPROC_RESTORER_SYS_H
#define VPROC_RESTORER_SYS_H

#include <asm/prctl.h>
#include <asm/unistd.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <stdint.h>

#define RS_PAGE 4096ul

static inline long rs_syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6) {
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

#define rs_sys0(n) rs_syscall6((n), 0, 0, 0, 0, 0, 0)
#define rs_sys1(n, a) rs_syscall6((n), (long)(a), 0, 0, 0, 0, 0)
#define rs_sys2(n, a, b) rs_syscall6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define rs_sys3(n, a, b, c) rs_syscall6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define rs_sys4(n, a, b, c, d) rs_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define rs_sys5(n, a, b, c, d, e) rs_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)
#define rs_sys6(n, a, b, c, d, e, f) \
  rs_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static inline int rs_failed(long r) { return r < 0 && r > -4096; }

static inline long rs_mmap(uint64_t addr, uint64_t len, int prot, int flags, int fd, uint64_t off) {
  return rs_sys6(__NR_mmap, addr, len, prot, flags, fd, off);
}

__attribute__((noreturn)) static inline void rs_exit(int status) {
  for (;;) rs_sys1(__NR_exit_group, status);
}

static inline uint64_t rs_page_up(uint64_t v) { return (v + RS_PAGE - 1) & ~(RS_PAGE - 1); }

#endif
