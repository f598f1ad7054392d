/* Many threads, each with state of its own that a checkpoint and restore
 * must keep (ckpt_thread_stress.sh):
 *
 *   thread_states [THREADS] [HOLD_MS]
 *
 * THREADS (default 64, a multiple of 4) threads start; each sets up
 *  - a __thread variable and a pthread key value (its own pointers),
 *  - a 2 KiB pattern on its stack,
 *  - a signal mask of its own (its index's bits over six signals),
 *  - an alternate signal stack of its own,
 *  - a name (pthread_setname_np "st-NN"),
 * and notes pthread_self() and gettid(). They meet at a barrier, the main
 * thread prints "ready THREADS" (the moment for a checkpoint), and for
 * HOLD_MS (default 2500) each waits in its own way; in group g of four:
 *   thread 4g    holds the error-checking mutex E[g] and sleeps (nanosleep),
 *   thread 4g+1  holds the recursive mutex R[g] twice and waits on a
 *                condition variable with a deadline (pthread_cond_timedwait),
 *   thread 4g+2  holds the robust mutex B[g] and waits in poll(),
 *   thread 4g+3  computes with doubles for half the time, then locks E[g],
 *                R[g] and B[g] in turn (blocking while their holders hold
 *                them: across the checkpoint, their owners' old tids).
 * Then each releases what it holds (an error-checking, recursive or robust
 * mutex says EPERM to a thread it does not take for its owner), checks that
 * everything above is as it was, and that its computation gives bit for bit
 * what a recomputation gives. The main thread joins them in order and prints
 * "thread NN kind K ok" or "thread NN FAIL: ..." for each, then "all N
 * threads ok" and EXIT-SUCCESS (exit status 1 if any failed). The output
 * does not depend on timing. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

enum { kMaxThreads = 256, kPattern = 2048, kFailText = 160 };

static const int kMaskSignals[6] = {SIGUSR1, SIGUSR2, SIGWINCH, SIGURG, SIGPIPE, SIGALRM};

struct group {
  pthread_mutex_t errorcheck, recursive, robust;
  pthread_mutex_t cv_mutex;
  pthread_cond_t cv; /* never signalled: its waiter times out */
};

struct worker {
  int index;
  pthread_t id;
  struct group* g;
  char fail[kFailText];
};

static int g_threads = 64;
static long g_hold_ms = 2500;
static pthread_barrier_t g_ready;
static pthread_key_t g_key;
static __thread uintptr_t t_mine;
static struct group g_groups[kMaxThreads / 4];
static struct worker g_workers[kMaxThreads];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Records the first failure of worker w. */
static void failf(struct worker* w, const char* what, int err) {
  if (w->fail[0]) return;
  if (err)
    snprintf(w->fail, sizeof w->fail, "%s: %s", what, strerror(err));
  else
    snprintf(w->fail, sizeof w->fail, "%s", what);
}

/* x <- x * a + b, n times: SSE arithmetic the restore must not disturb. */
static double compute(uint64_t n, double seed) {
  double x = seed, a = 1.0000001, b = 1e-7;
  for (uint64_t i = 0; i < n; ++i) {
    x = x * a + b;
    if (x > 1e6) x -= 1e6;
  }
  return x;
}

static void compute_for(struct worker* w, double until) {
  uint64_t n = 0;
  double x = 0.5 + w->index, seed = x;
  do {
    double a = 1.0000001, b = 1e-7;
    for (int i = 0; i < 100000; ++i) {
      x = x * a + b;
      if (x > 1e6) x -= 1e6;
    }
    n += 100000;
  } while (now_s() < until);
  if (x != compute(n, seed)) failf(w, "a computation across the checkpoint differs from its recomputation", 0);
}

static void lock_unlock(struct worker* w, pthread_mutex_t* m, const char* name) {
  int err = pthread_mutex_lock(m);
  if (err) {
    char what[64];
    snprintf(what, sizeof what, "pthread_mutex_lock(%s)", name);
    failf(w, what, err);
    return;
  }
  err = pthread_mutex_unlock(m);
  if (err) {
    char what[64];
    snprintf(what, sizeof what, "pthread_mutex_unlock(%s) after waiting for it", name);
    failf(w, what, err);
  }
}

static void* run(void* arg) {
  struct worker* w = arg;
  int kind = w->index % 4;
  struct group* g = w->g;
  char name[16], got_name[16];
  unsigned char pattern[kPattern];

  /* Set up. */
  t_mine = (uintptr_t)w ^ 0x5a5a5a5aU;
  pthread_setspecific(g_key, w);
  for (int i = 0; i < kPattern; ++i) pattern[i] = (unsigned char)(i * 7 + w->index);
  sigset_t mask, cur;
  sigemptyset(&mask);
  for (int b = 0; b < 6; ++b)
    if (w->index & (1 << b)) sigaddset(&mask, kMaskSignals[b]);
  pthread_sigmask(SIG_SETMASK, &mask, NULL);
  stack_t ss = {.ss_sp = malloc(SIGSTKSZ * 2), .ss_size = SIGSTKSZ * 2, .ss_flags = 0}, got_ss;
  if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0) failf(w, "sigaltstack", errno);
  snprintf(name, sizeof name, "st-%02d", w->index);
  pthread_setname_np(pthread_self(), name);
  pthread_t self = pthread_self();
  pid_t tid = gettid();
  int err = 0;
  switch (kind) {
    case 0: err = pthread_mutex_lock(&g->errorcheck); break;
    case 1:
      err = pthread_mutex_lock(&g->recursive);
      if (!err) err = pthread_mutex_lock(&g->recursive);
      break;
    case 2: err = pthread_mutex_lock(&g->robust); break;
  }
  if (err) failf(w, "taking its mutex", err);
  pthread_barrier_wait(&g_ready);
  double start = now_s(), hold = (double)g_hold_ms / 1000.0;

  /* Wait in its own way (the checkpoint comes in here). */
  switch (kind) {
    case 0:
      sleep_s(hold);
      if ((err = pthread_mutex_unlock(&g->errorcheck))) failf(w, "pthread_mutex_unlock(error-checking)", err);
      break;
    case 1: {
      struct timespec deadline;
      clock_gettime(CLOCK_REALTIME, &deadline);
      deadline.tv_sec += g_hold_ms / 1000;
      deadline.tv_nsec += (g_hold_ms % 1000) * 1000000L;
      if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
      }
      pthread_mutex_lock(&g->cv_mutex);
      do err = pthread_cond_timedwait(&g->cv, &g->cv_mutex, &deadline);
      while (err == 0);
      if (err != ETIMEDOUT) failf(w, "pthread_cond_timedwait", err);
      pthread_mutex_unlock(&g->cv_mutex);
      if ((err = pthread_mutex_unlock(&g->recursive))) failf(w, "pthread_mutex_unlock(recursive), first", err);
      if ((err = pthread_mutex_unlock(&g->recursive))) failf(w, "pthread_mutex_unlock(recursive), second", err);
      break;
    }
    case 2: {
      double left = hold;
      while (left > 0) {
        int n = poll(NULL, 0, (int)(left * 1000) + 1);
        if (n < 0 && errno != EINTR) {
          failf(w, "poll", errno);
          break;
        }
        left = hold - (now_s() - start);
      }
      if ((err = pthread_mutex_unlock(&g->robust))) failf(w, "pthread_mutex_unlock(robust)", err);
      break;
    }
    case 3:
      compute_for(w, start + hold / 2);
      lock_unlock(w, &g->errorcheck, "error-checking");
      lock_unlock(w, &g->recursive, "recursive");
      lock_unlock(w, &g->robust, "robust");
      break;
  }

  /* Check. */
  if (t_mine != ((uintptr_t)w ^ 0x5a5a5a5aU)) failf(w, "its __thread variable changed", 0);
  if (pthread_getspecific(g_key) != w) failf(w, "its pthread key value changed", 0);
  for (int i = 0; i < kPattern; ++i)
    if (pattern[i] != (unsigned char)(i * 7 + w->index)) {
      failf(w, "the pattern on its stack changed", 0);
      break;
    }
  pthread_sigmask(SIG_BLOCK, NULL, &cur);
  for (int b = 0; b < 6; ++b)
    if (sigismember(&cur, kMaskSignals[b]) != sigismember(&mask, kMaskSignals[b]))
      failf(w, "its signal mask changed", 0);
  if (sigaltstack(NULL, &got_ss) != 0 || got_ss.ss_sp != ss.ss_sp || got_ss.ss_size != ss.ss_size)
    failf(w, "its alternate signal stack changed", 0);
  if (!pthread_equal(pthread_self(), self)) failf(w, "pthread_self() changed", 0);
  pid_t tid_now = gettid();
  if (tid_now != tid) {
    char what[80];
    snprintf(what, sizeof what, "gettid() changed from %d to %d", (int)tid, (int)tid_now);
    failf(w, what, 0);
  }
  if ((err = pthread_getname_np(pthread_self(), got_name, sizeof got_name))) failf(w, "pthread_getname_np", err);
  else if (strcmp(got_name, name) != 0) failf(w, "its thread name changed", 0);
  /* Every mutex of its group is free again and can be taken. */
  lock_unlock(w, &g->errorcheck, "error-checking, at the end");
  return NULL;
}

static void init_group(struct group* g) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&g->errorcheck, &a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&g->recursive, &a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&g->robust, &a);
  pthread_mutexattr_destroy(&a);
  pthread_mutex_init(&g->cv_mutex, NULL);
  pthread_cond_init(&g->cv, NULL);
}

int main(int argc, char** argv) {
  if (argc > 3 || (argc > 1 && (atoi(argv[1]) < 4 || atoi(argv[1]) > kMaxThreads || atoi(argv[1]) % 4))) {
    fprintf(stderr, "usage: thread_states [THREADS (4..%d, a multiple of 4)] [HOLD_MS]\n", kMaxThreads);
    return 2;
  }
  if (argc > 1) g_threads = atoi(argv[1]);
  if (argc > 2) g_hold_ms = atol(argv[2]);
  setvbuf(stdout, NULL, _IOLBF, 0);
  pthread_key_create(&g_key, NULL);
  pthread_barrier_init(&g_ready, NULL, (unsigned)g_threads + 1);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (int i = 0; i < g_threads / 4; ++i) init_group(&g_groups[i]);
  for (int i = 0; i < g_threads; ++i) {
    g_workers[i].index = i;
    g_workers[i].g = &g_groups[i / 4];
    int err = pthread_create(&g_workers[i].id, &attr, run, &g_workers[i]);
    if (err) {
      fprintf(stderr, "thread_states: pthread_create: %s\n", strerror(err));
      return 1;
    }
  }
  pthread_barrier_wait(&g_ready);
  printf("ready %d\n", g_threads);
  int failed = 0;
  for (int i = 0; i < g_threads; ++i) {
    pthread_join(g_workers[i].id, NULL);
    if (g_workers[i].fail[0]) {
      printf("thread %02d FAIL: %s\n", i, g_workers[i].fail);
      failed++;
    } else {
      printf("thread %02d kind %d ok\n", i, i % 4);
    }
  }
  if (failed) {
    printf("%d of %d threads failed\n", failed, g_threads);
    return 1;
  }
  printf("all %d threads ok\nEXIT-SUCCESS\n", g_threads);
  return 0;
}
