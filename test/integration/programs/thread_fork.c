/* One thread forks and reaps children in a loop while others hash, for
 * checkpoints that arrive in the middle of fork() (ckpt_thread_stress.sh):
 *
 *   thread_fork ROUNDS [STOP_FILE]
 *
 * The forker thread forks a child per round; the child lives about a
 * millisecond and exits with the round number modulo 200; the forker reaps
 * it with waitpid, checks the pid and status and prints "fork R status S"
 * (flushed). Meanwhile three hasher threads loop over a hash with short
 * sleeps. When the forker is done (ROUNDS rounds, or once STOP_FILE holds a
 * round number S, after round S: `thread_fork S+1` prints the same) the
 * hashers stop after a fixed number of steps each, and the main thread prints
 * their results, "forks N ok" and EXIT-SUCCESS (exit status 1 on a wrong
 * pid or status). The output does not depend on timing. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mix64.h"
#include "stop_file.h"

enum { kHashers = 3 };

static long g_rounds;
static const char* g_stop_file;
static atomic_int g_forker_done;
static long g_forks_ok;

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* A failure: on stdout (where it breaks the comparison) and on stderr. */
static void fail(const char* text) {
  printf("%s\n", text);
  fflush(stdout);
  fprintf(stderr, "thread_fork: %s\n", text);
  exit(1);
}

static void* forker(void* arg) {
  (void)arg;
  for (long r = 0; r < g_rounds; ++r) {
    pid_t child = fork();
    char text[160];
    if (child < 0) {
      snprintf(text, sizeof text, "fork %ld failed: %s", r, strerror(errno));
      fail(text);
    }
    if (child == 0) {
      sleep_us(1000);
      _exit((int)(r % 200));
    }
    int status = 0;
    pid_t got;
    while ((got = waitpid(child, &status, 0)) < 0 && errno == EINTR) {
    }
    if (got != child || !WIFEXITED(status) || WEXITSTATUS(status) != r % 200) {
      snprintf(text, sizeof text, "fork %ld: waitpid gave %d (child %d), status 0x%x", r, (int)got, (int)child, status);
      fail(text);
    }
    g_forks_ok++;
    printf("fork %ld status %d\n", r, WEXITSTATUS(status));
    fflush(stdout);
    long s = read_stop_round(g_stop_file);
    if (s >= 0 && r >= s) break;
  }
  atomic_store(&g_forker_done, 1);
  return NULL;
}

struct hasher {
  pthread_t id;
  uint64_t index, h;
};

/* Hashes in blocks of 1000 chained steps until the forker is done, finishing
 * the block it is in: however many blocks ran, the last one's result is the
 * same. */
static void* hash_loop(void* arg) {
  struct hasher* me = arg;
  uint64_t steps = 0, h = 0;
  while (!atomic_load(&g_forker_done) || steps % 1000 != 0) {
    if (steps % 1000 == 0) h = mix(me->index);
    for (int k = 0; k < 200; ++k) h = mix(h + (uint64_t)k);
    if (steps % 1000 == 999) me->h = h;
    steps++;
    if (steps % 50 == 0) sleep_us(200);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: thread_fork ROUNDS [STOP_FILE]\n");
    return 2;
  }
  g_rounds = atol(argv[1]);
  g_stop_file = argc > 2 ? argv[2] : NULL;
  struct hasher hashers[kHashers];
  pthread_t f;
  for (int i = 0; i < kHashers; ++i) {
    hashers[i].index = (uint64_t)i;
    hashers[i].h = 0;
    pthread_create(&hashers[i].id, NULL, hash_loop, &hashers[i]);
  }
  pthread_create(&f, NULL, forker, NULL);
  pthread_join(f, NULL);
  for (int i = 0; i < kHashers; ++i) {
    pthread_join(hashers[i].id, NULL);
    printf("hasher %d %016llx\n", i, (unsigned long long)hashers[i].h);
  }
  printf("forks %ld ok\nEXIT-SUCCESS\n", g_forks_ok);
  return 0;
}
