/* A thread that waits for a lock with every signal blocked, as glibc's own
 * threads do when they exit (the stack cache lock) or start, while the main
 * thread, which a process-directed checkpoint request usually reaches, holds
 * that lock half of the time. A checkpoint led from inside the lock holder
 * cannot park the waiter until the holder has run on: the leader must step
 * aside and come back (libvproc/ckpt_retry.h), not wait out its deadline.
 *
 *   lock_holder ROUNDS [STOP_FILE]
 *
 * Each round the main thread holds the lock for 2 ms (spinning), then sleeps
 * 2 ms without it; the waiter blocks every signal with the raw system call
 * (libvproc's sigprocmask never blocks the checkpoint signal; glibc's
 * internal blocking is a raw system call too), takes and drops the lock,
 * restores its mask and sleeps 3 ms. Every 25 rounds the main thread prints
 * "round R HASH" (flushed); with STOP_FILE, once it holds a round number S,
 * round S is the last. At the end "waiter ran: yes" and EXIT-SUCCESS. The
 * output depends only on the arguments. x86-64 (the inline system call). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

#include "stop_file.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop;
static volatile long waiter_rounds;

static long raw_sigprocmask(int how, const uint64_t* set, uint64_t* old) {
  long r;
  register long size __asm__("r10") = sizeof(uint64_t);
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "0"((long)SYS_rt_sigprocmask), "D"((long)how), "S"(set), "d"(old), "r"(size)
                   : "rcx", "r11", "memory");
  return r;
}

static void sleep_us(long us) {
  struct timespec ts = {0, us * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void spin_us(long us) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  do clock_gettime(CLOCK_MONOTONIC, &b);
  while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

static void* waiter(void* arg) {
  (void)arg;
  const uint64_t all = ~(uint64_t)0;
  uint64_t old = 0;
  while (!stop) {
    raw_sigprocmask(SIG_BLOCK, &all, &old);
    pthread_mutex_lock(&lock);
    ++waiter_rounds;
    pthread_mutex_unlock(&lock);
    raw_sigprocmask(SIG_SETMASK, &old, NULL);
    sleep_us(3000);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: lock_holder ROUNDS [STOP_FILE]\n");
    return 2;
  }
  long rounds = atol(argv[1]);
  const char* stop_file = argc > 2 ? argv[2] : NULL;
  pthread_t t;
  int err = pthread_create(&t, NULL, waiter, NULL);
  if (err) {
    fprintf(stderr, "lock_holder: pthread_create failed (%d)\n", err);
    return 1;
  }
  uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (long r = 0; r < rounds; ++r) {
    pthread_mutex_lock(&lock);
    spin_us(2000);
    pthread_mutex_unlock(&lock);
    h = (h ^ (uint64_t)r) * 0x100000001b3ULL;
    if (r % 25 == 0) {
      printf("round %ld %016llx\n", r, (unsigned long long)h);
      fflush(stdout);
      long s = read_stop_round(stop_file);
      if (s >= 0 && r >= s) break;
    }
    sleep_us(2000);
  }
  stop = 1;
  pthread_join(t, NULL);
  printf("waiter ran: %s\nEXIT-SUCCESS\n", waiter_rounds > 0 ? "yes" : "no");
  return 0;
}
