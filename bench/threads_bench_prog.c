/* The program bench/threads_bench.sh checkpoints from outside and restores
 * (run it under vproc-run):
 *
 *   threads_bench_prog THREADS MIB
 *
 * Maps MIB MiB of anonymous memory, fills it with xorshift data in 4 KiB
 * pages (MADV_NOHUGEPAGE), starts THREADS-1 more threads that wait on a
 * condition variable (each with a page of its own stack touched), prints
 * "ready" and waits. When a restored copy resumes (vproc_at_restore, found
 * with dlsym) it prints "restored_realtime_ns N": CLOCK_REALTIME right then.
 * It never exits by itself; the script kills it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;

static void* waiter(void* arg) {
  volatile char page[4096];
  memset((char*)page, (int)(uintptr_t)arg, sizeof page);
  pthread_mutex_lock(&g_mutex);
  for (;;) pthread_cond_wait(&g_cond, &g_mutex);
  return NULL;
}

/* Runs in the restored process: async-signal-safe output only. */
static void on_restore(void* arg) {
  (void)arg;
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  uint64_t ns = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
  char buf[64], digits[24];
  int n = 0;
  do digits[n++] = (char)('0' + ns % 10);
  while ((ns /= 10) != 0);
  int len = 0;
  const char* key = "restored_realtime_ns ";
  while (*key) buf[len++] = *key++;
  while (n) buf[len++] = digits[--n];
  buf[len++] = '\n';
  (void)!write(1, buf, (size_t)len);
}

int main(int argc, char** argv) {
  if (argc != 3 || atoi(argv[1]) < 1 || atol(argv[2]) < 1) {
    fprintf(stderr, "usage: threads_bench_prog THREADS MIB\n");
    return 2;
  }
  int threads = atoi(argv[1]);
  size_t bytes = (size_t)atol(argv[2]) << 20;
  uint64_t* mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    perror("threads_bench_prog: mmap");
    return 1;
  }
  madvise(mem, bytes, MADV_NOHUGEPAGE);
  uint64_t x = 88172645463325252ULL;
  for (size_t i = 0; i < bytes / sizeof *mem; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    mem[i] = x;
  }
  typedef int (*hook_fn)(void (*)(void*), void*);
  hook_fn at_restore = (hook_fn)dlsym(RTLD_DEFAULT, "vproc_at_restore");
  if (at_restore) at_restore(on_restore, NULL);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 128 * 1024);
  for (int i = 1; i < threads; ++i) {
    pthread_t t;
    if (pthread_create(&t, &attr, waiter, (void*)(uintptr_t)i) != 0) {
      fprintf(stderr, "threads_bench_prog: pthread_create failed\n");
      return 1;
    }
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
