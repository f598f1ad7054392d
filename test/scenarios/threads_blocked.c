/* Threads asleep in system calls across a checkpoint: nanosleep,
 * clock_nanosleep (relative, absolute, CLOCK_REALTIME), usleep, poll and
 * select without descriptors, timed futex waits, and waits that another thread
 * ends after the point (a futex wait, sigtimedwait). None may see EINTR, and
 * each sleep lasts at least its requested time by CLOCK_MONOTONIC (the
 * checkpoint and the restore do not shorten it). Descriptor waits (pipe read,
 * poll/select/epoll on a pipe) are in threads_blocked_fds.c. */
#include "scenario.h"

#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>

enum {
  kNanosleep,
  kClockRelative,
  kClockAbsolute,
  kClockRealtime,
  kUsleep,
  kPoll,
  kSelect,
  kFutexTimed,
  kFutexWoken,
  kSigtimedwait,
  kThreads
};
static const char* const kNames[kThreads] = {
    "nanosleep",  "clock_nanosleep(MONOTONIC)", "clock_nanosleep(MONOTONIC, TIMER_ABSTIME)",
    "clock_nanosleep(REALTIME)", "usleep", "poll(no fds)", "select(no fds)",
    "futex wait with a timeout", "futex wait with every signal blocked, woken after the point",
    "sigtimedwait, signalled after the point"};

/* Long enough to span the checkpoint and the restore, short for the test. */
static const int64_t kSleepNs = 600 * 1000 * 1000;

struct report {
  volatile int blocking;
  volatile pid_t tid;
  pthread_t th;
  int64_t elapsed_ns;
  long result; /* the call's return value */
  int err;     /* its errno, when it failed */
  int eintr;   /* EINTR seen (and the call retried) */
  int mask_kept; /* kFutexWoken: every signal is still blocked afterwards */
};
static struct report rep[kThreads];
static uint32_t futex_word, futex_never; /* futex_never stays 0: nobody wakes its waiter */

static int64_t now_ns(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static struct timespec ts_of(int64_t ns) {
  struct timespec t = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
  return t;
}

static void about_to_block(int i) {
  rep[i].tid = gettid();
  __atomic_store_n(&rep[i].blocking, 1, __ATOMIC_SEQ_CST);
}

static void* thread_main(void* arg) {
  int i = (int)(intptr_t)arg;
  struct report* r = &rep[i];
  struct timespec rel = ts_of(kSleepNs);
  int64_t start = now_ns(CLOCK_MONOTONIC);
  about_to_block(i);
  long res = 0;
  switch (i) {
    case kNanosleep:
      res = nanosleep(&rel, NULL);
      break;
    case kClockRelative:
      res = clock_nanosleep(CLOCK_MONOTONIC, 0, &rel, NULL);
      if (res) errno = (int)res, res = -1;
      break;
    case kClockAbsolute: {
      struct timespec until = ts_of(start + kSleepNs);
      res = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
      if (res) errno = (int)res, res = -1;
      break;
    }
    case kClockRealtime:
      res = clock_nanosleep(CLOCK_REALTIME, 0, &rel, NULL);
      if (res) errno = (int)res, res = -1;
      break;
    case kUsleep:
      res = usleep((useconds_t)(kSleepNs / 1000));
      break;
    case kPoll:
      res = poll(NULL, 0, (int)(kSleepNs / 1000000));
      break;
    case kSelect: {
      struct timeval tv = {(time_t)(kSleepNs / 1000000000), (suseconds_t)(kSleepNs % 1000000000 / 1000)};
      res = select(0, NULL, NULL, NULL, &tv);
      break;
    }
    case kFutexTimed:
      /* Nobody wakes it: ETIMEDOUT after the whole timeout. */
      res = syscall(SYS_futex, &futex_never, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
      break;
    case kFutexWoken: {
      /* A thread that blocks everything (the checkpoint must still stop it,
       * and leave its mask as it was). */
      sigset_t all, after;
      sigfillset(&all);
      pthread_sigmask(SIG_SETMASK, &all, NULL);
      while (__atomic_load_n(&futex_word, __ATOMIC_SEQ_CST) != 2) {
        res = syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
        if (res == -1 && errno == EINTR) r->eintr = 1;
        if (res == -1 && errno == EAGAIN) res = 0; /* the word changed before we slept */
      }
      pthread_sigmask(SIG_BLOCK, NULL, &after);
      r->mask_kept = sigismember(&after, SIGUSR2) && sigismember(&after, SIGTERM) && sigismember(&after, SIGRTMAX);
      break;
    }
    case kSigtimedwait: {
      sigset_t usr1;
      sigemptyset(&usr1);
      sigaddset(&usr1, SIGUSR1);
      struct timespec limit = {30, 0};
      siginfo_t si;
      res = sigtimedwait(&usr1, &si, &limit);
      break;
    }
  }
  r->elapsed_ns = now_ns(CLOCK_MONOTONIC) - start;
  r->result = res;
  r->err = res == -1 ? errno : 0;
  if (r->err == EINTR) r->eintr = 1;
  return NULL;
}

static void await_blocked(int i) { scenario_await_asleep(&rep[i].blocking, &rep[i].tid, kNames[i]); }

int main(void) {
  /* SIGUSR1 is for sigtimedwait only: blocked everywhere. */
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  must(-pthread_sigmask(SIG_BLOCK, &usr1, NULL));

  for (int i = 0; i < kThreads; i++) must(-pthread_create(&rep[i].th, NULL, thread_main, (void*)(intptr_t)i));
  for (int i = 0; i < kThreads; i++) await_blocked(i);

  SCENARIO_CKPT_POINT(); /* every thread asleep in its call */

  __atomic_store_n(&futex_word, 2, __ATOMIC_SEQ_CST);
  must(syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
  must(-pthread_kill(rep[kSigtimedwait].th, SIGUSR1));
  for (int i = 0; i < kThreads; i++) must(-pthread_join(rep[i].th, NULL));

  for (int i = 0; i < kThreads; i++) {
    struct report* r = &rep[i];
    require(!r->eintr, "%s: EINTR", kNames[i]);
    switch (i) {
      case kFutexTimed:
        require(r->result == -1 && r->err == ETIMEDOUT, "%s: ETIMEDOUT (got %ld, %s)", kNames[i], r->result,
                strerror(r->err));
        require(r->elapsed_ns >= kSleepNs, "%s: slept its full time", kNames[i]);
        check(1, "%s: ETIMEDOUT after its full time, no EINTR", kNames[i]);
        break;
      case kFutexWoken:
        check(r->result == 0 && r->mask_kept, "%s: 0, no EINTR, its mask as it was", kNames[i]);
        break;
      case kSigtimedwait:
        check(r->result == SIGUSR1, "%s: returned SIGUSR1, no EINTR", kNames[i]);
        break;
      default:
        require(r->result == 0, "%s: returned %ld (%s)", kNames[i], r->result, strerror(r->err));
        require(r->elapsed_ns >= kSleepNs, "%s: slept its full time", kNames[i]);
        check(1, "%s: 0 after its full time, no EINTR", kNames[i]);
        break;
    }
  }
  return scenario_done();
}
