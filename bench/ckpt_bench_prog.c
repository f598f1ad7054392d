/* The program bench/ckpt_bench.sh checkpoints and restores (run it under
 * vproc-run):
 *
 *   ckpt_bench_prog random|zero|thp IMAGE [MIB]
 *
 * Maps MIB (default 1024) MiB of anonymous memory and touches every page:
 *   random  xorshift data in 4 KiB pages (MADV_NOHUGEPAGE)
 *   zero    zeros written to every 4 KiB page: present, but nothing to store
 *   thp     random data in transparent huge pages (MADV_HUGEPAGE)
 * then calls vproc_checkpoint(IMAGE) and prints "key value" lines:
 *   fork_ns        a raw fork() of this process (the page-table copy a
 *                  checkpoint's freeze also does), for reference
 *   anon_huge_kib  AnonHugePages of the process (smaps_rollup)
 *   checkpoint_ns  the vproc_checkpoint() call: freeze, write, rename
 * and exits. When a restored copy returns from vproc_checkpoint() it prints
 *   restored_realtime_ns   CLOCK_REALTIME right then
 *   populated_realtime_ns  CLOCK_REALTIME once the kernel counts one thread
 *                          (a lazy restore's populating threads are gone;
 *                          the same as above for an eager one)
 *   verify ok              every byte is what it was (or "verify MISMATCH")
 * and exits 0 if the data is intact. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"

static uint64_t clock_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A system call libvproc does not see: its fork and wait wrappers talk to the
 * daemon, which would add to the reference figure. */
static long raw4(long n, long a, long b, long c, long d) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return ret;
}

/* fork() as the kernel does it (copying the page tables), the child exiting at
 * once without running any of our code; returns the parent's time in it. */
static uint64_t time_raw_fork(void) {
  uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
  long pid;
  register long r10 __asm__("r10") = 0;
  register long r8 __asm__("r8") = 0;
  __asm__ volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "mov $231, %%eax\n\t" /* the child: exit_group(0) */
      "xor %%edi, %%edi\n\t"
      "syscall\n"
      "1:"
      : "=a"(pid)
      : "0"((long)SYS_clone), "D"((long)SIGCHLD), "S"(0L), "d"(0L), "r"(r10), "r"(r8)
      : "rcx", "r11", "memory");
  uint64_t t = clock_ns(CLOCK_MONOTONIC) - t0;
  if (pid < 0) return 0;
  raw4(SYS_wait4, pid, 0, 0, 0);
  return t;
}

static void fill(uint64_t* p, size_t words) {
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < words; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = x;
  }
}

static int check(const uint64_t* p, size_t words, int zero) {
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < words; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    if (p[i] != (zero ? 0 : x)) return 0;
  }
  return 1;
}

static long anon_huge_kib(void) {
  FILE* f = fopen("/proc/self/smaps_rollup", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "AnonHugePages: %ld kB", &kib) == 1) break;
  if (f) fclose(f);
  return kib;
}

/* The kernel's count of our tasks ("Threads:" in /proc/self/status): libvproc
 * leaves its own populating threads out of /proc/self/task listings. */
static int thread_count(void) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  int n = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "Threads: %d", &n) == 1) break;
  if (f) fclose(f);
  return n;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s random|zero|thp IMAGE [MIB]\n", argv[0]);
    return 2;
  }
  const char* mode = argv[1];
  int zero = !strcmp(mode, "zero"), thp = !strcmp(mode, "thp");
  if (!zero && !thp && strcmp(mode, "random")) {
    fprintf(stderr, "%s: unknown mode '%s'\n", argv[0], mode);
    return 2;
  }
  int (*ckpt)(const char*) = (int (*)(const char*))dlsym(RTLD_DEFAULT, "vproc_checkpoint");
  const char* (*ckpt_error)(void) = (const char* (*)(void))dlsym(RTLD_DEFAULT, "vproc_checkpoint_error");
  if (!ckpt) {
    fprintf(stderr, "%s: no vproc_checkpoint (run it under vproc-run)\n", argv[0]);
    return 2;
  }

  size_t bytes = (size_t)(argc > 3 ? parse_count(argv[0], argv[3], 1 << 20) : 1024) << 20;
  const size_t huge = 2u << 20; /* huge pages need 2 MiB alignment */
  char* raw = mmap(NULL, bytes + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  uint64_t* p = (uint64_t*)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
  if (madvise(p, bytes, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0) perror("madvise");
  if (zero) {
    for (size_t i = 0; i < bytes; i += 4096) ((volatile char*)p)[i] = 0;
  } else {
    fill(p, bytes / 8);
  }

  printf("fork_ns %llu\n", (unsigned long long)time_raw_fork());
  printf("anon_huge_kib %ld\n", anon_huge_kib());
  fflush(stdout);
  uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
  int r = ckpt(argv[2]);
  uint64_t restored = clock_ns(CLOCK_REALTIME);
  if (r < 0) {
    fprintf(stderr, "%s: vproc_checkpoint: %s\n", argv[0], ckpt_error ? ckpt_error() : "failed");
    return 1;
  }
  if (r == 0) {
    printf("checkpoint_ns %llu\n", (unsigned long long)(clock_ns(CLOCK_MONOTONIC) - t0));
    return 0;
  }

  uint64_t populated;
  /* Every 1 ms, for at most a minute: reading /proc/self/status costs tens of
   * microseconds, and polling faster took a third of a CPU from the
   * populating threads it is timing (1 ms is the resolution of the figure). */
  for (int i = 0;; ++i) {
    int threads = thread_count();
    populated = clock_ns(CLOCK_REALTIME);
    if (threads <= 1 || i == 60000) break;
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
  int ok = check(p, bytes / 8, zero);
  printf("restored_realtime_ns %llu\npopulated_realtime_ns %llu\nverify %s\n", (unsigned long long)restored,
         (unsigned long long)populated, ok ? "ok" : "MISMATCH");
  return ok ? 0 : 1;
}
