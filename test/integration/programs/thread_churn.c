/* Threads born and gone at a high rate, for checkpoints that arrive while the
 * set of threads changes (ckpt_thread_stress.sh):
 *
 *   thread_churn ROUNDS [PAUSE_US] [STOP_FILE]
 *
 * Each round starts 6 joinable and 2 detached threads; each hashes its
 * (round, index) and exits, the detached ones after posting a semaphore.
 * The main thread joins and waits for them all, prints "round R HASH"
 * (flushed: a test can watch the lines), sleeps PAUSE_US (default 1000) and
 * goes on; at the end "total HASH" and EXIT-SUCCESS. With STOP_FILE, once
 * that file holds a round number S, round S is the last (a test makes the run
 * as long as it needs, and a restored copy stops where the original did;
 * `thread_churn S+1` prints the same). So at any moment threads
 * are being cloned, are running, or are exiting (glibc reuses or unmaps their
 * stacks). The output depends only on the arguments. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mix64.h"
#include "stop_file.h"

enum { kJoinable = 6, kDetached = 2, kPerRound = kJoinable + kDetached };

struct job {
  uint64_t seed;
  uint64_t result;
  sem_t* done; /* detached threads post it; NULL for joinable ones */
};

static void* run_job(void* arg) {
  struct job* j = arg;
  uint64_t h = mix(j->seed);
  for (int k = 0; k < 1500; ++k) h = mix(h + (uint64_t)k);
  j->result = h;
  if (j->done) sem_post(j->done);
  return NULL;
}

static void die(const char* what, int err) {
  fprintf(stderr, "thread_churn: %s: %s\n", what, strerror(err));
  exit(1);
}

static void pause_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: thread_churn ROUNDS [PAUSE_US] [STOP_FILE]\n");
    return 2;
  }
  long rounds = atol(argv[1]), pause = argc > 2 ? atol(argv[2]) : 1000;
  const char* stop_file = argc > 3 ? argv[3] : NULL;
  sem_t done;
  if (sem_init(&done, 0, 0) != 0) die("sem_init", errno);
  pthread_attr_t detached;
  pthread_attr_init(&detached);
  pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
  uint64_t total = 0;
  for (long r = 0; r < rounds; ++r) {
    struct job jobs[kPerRound];
    pthread_t ids[kPerRound];
    for (int i = 0; i < kPerRound; ++i) {
      jobs[i].seed = (uint64_t)r * kPerRound + (uint64_t)i;
      jobs[i].done = i < kJoinable ? NULL : &done;
      int err = pthread_create(&ids[i], i < kJoinable ? NULL : &detached, run_job, &jobs[i]);
      if (err) die("pthread_create", err);
    }
    for (int i = 0; i < kJoinable; ++i) {
      int err = pthread_join(ids[i], NULL);
      if (err) die("pthread_join", err);
    }
    for (int i = 0; i < kDetached; ++i)
      while (sem_wait(&done) != 0)
        if (errno != EINTR) die("sem_wait", errno);
    uint64_t h = 0;
    for (int i = 0; i < kPerRound; ++i) h = mix(h ^ jobs[i].result);
    total = mix(total ^ h);
    printf("round %ld %016llx\n", r, (unsigned long long)h);
    fflush(stdout);
    long s = read_stop_round(stop_file);
    if (s >= 0 && r >= s) break;
    if (pause > 0) pause_us(pause);
  }
  printf("total %016llx\nEXIT-SUCCESS\n", (unsigned long long)total);
  return 0;
}
