/* getpid_bench [ITERATIONS]: nanoseconds per call of
 *   getpid              the libc call (under vproc: the cached vpid, no syscall)
 *   syscall_getpid      syscall(SYS_getpid) (under vproc: through its syscall() wrapper)
 *   raw_getpid          an inline `syscall` instruction, which nothing can wrap
 * One "NAME VALUE ns" line each. Default 10,000,000 iterations. */
#define _GNU_SOURCE
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_clock.h"

static long raw_getpid(void) {
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"((long)SYS_getpid) : "rcx", "r11", "memory");
  return ret;
}

int main(int argc, char **argv) {
  if (argc > 2) {
    fprintf(stderr, "usage: %s [ITERATIONS]\n", argv[0]);
    return 2;
  }
  long n = argc == 2 ? parse_count(argv[0], argv[1], 1000000000L) : 10000000L;
  volatile long sink = 0;

  double t0 = now_ns();
  for (long i = 0; i < n; ++i) sink += getpid();
  double t1 = now_ns();
  /* The syscall variants are ~100x slower: a tenth of the iterations is plenty. */
  long m = n / 10 > 0 ? n / 10 : 1;
  for (long i = 0; i < m; ++i) sink += syscall(SYS_getpid);
  double t2 = now_ns();
  for (long i = 0; i < m; ++i) sink += raw_getpid();
  double t3 = now_ns();

  printf("getpid %.2f ns\n", (t1 - t0) / (double)n);
  printf("syscall_getpid %.2f ns\n", (t2 - t1) / (double)m);
  printf("raw_getpid %.2f ns\n", (t3 - t2) / (double)m);
  return sink == 0 ? 1 : 0;
}
