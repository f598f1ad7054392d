/* Synchronisation objects in use across a checkpoint. While the main thread
 * passes the checkpoint point:
 *   - a holder thread holds a normal, an errorcheck, a recursive (locked
 *     twice) and a robust mutex, and a read lock of a rwlock;
 *   - one thread waits to lock the errorcheck mutex, one to take the write
 *     lock; one waits on a condition variable, one in a timed wait (30 s) on
 *     another; one in sem_wait; two in pthread_barrier_wait;
 *   - a thread holds a robust mutex it will die holding.
 * Afterwards the holder's mutexes are still its own (trylock EBUSY, unlock by
 * another thread EPERM), its unlocks return 0, the waiters get what they
 * waited for with 0 (no EINTR, no ETIMEDOUT), the dead owner's robust mutex
 * gives EOWNERDEAD, and every thread's __thread values and thread-specific
 * data are what it set. */
#include "scenario.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

static pthread_mutex_t m_normal, m_errcheck, m_recursive, m_robust, m_robust_dead;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t cv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER, cv_timed;
static int cv_flag, cv_timed_flag;
static sem_t sem, holder_go, dead_go;
static pthread_barrier_t barrier;
static pthread_key_t key;

static __thread int tls_int = 7;
static __thread char tls_text[32] = "initial";

/* Each thread's report. */
enum { kHolder, kLocker, kWriter, kCondWaiter, kTimedWaiter, kSemWaiter, kBarrier1, kBarrier2, kDead, kThreads };
static const char* const kNames[kThreads] = {"holder", "locker", "writer", "cond-waiter", "timed-waiter",
                                             "sem-waiter", "barrier-1", "barrier-2", "dead-owner"};
struct report {
  volatile int blocking; /* about to block in the call under test */
  volatile pid_t tid;
  int result, result2, serial;
  int tls_ok;
};
static struct report rep[kThreads];

/* Sets this thread's TLS and thread-specific values; they are checked at the end. */
static void set_tls(int i) {
  tls_int = 100 + i;
  snprintf(tls_text, sizeof tls_text, "thread %d", i);
  pthread_setspecific(key, (void*)(intptr_t)(1000 + i));
}
static int tls_still(int i) {
  char want[32];
  snprintf(want, sizeof want, "thread %d", i);
  return tls_int == 100 + i && !strcmp(tls_text, want) && pthread_getspecific(key) == (void*)(intptr_t)(1000 + i);
}

static void about_to_block(int i) {
  rep[i].tid = gettid();
  __atomic_store_n(&rep[i].blocking, 1, __ATOMIC_SEQ_CST);
}

static void wait_sem(sem_t* s) {
  while (sem_wait(s) != 0)
    if (errno != EINTR) fail("sem_wait: %s", strerror(errno));
}

/* Results of the holder's unlocks after the point. */
static int holder_unlock[6];

static void* thread_main(void* arg) {
  int i = (int)(intptr_t)arg;
  set_tls(i);
  struct report* r = &rep[i];
  switch (i) {
    case kHolder:
      r->result = pthread_mutex_lock(&m_normal) | pthread_mutex_lock(&m_errcheck) |
                  pthread_mutex_lock(&m_recursive) | pthread_mutex_lock(&m_recursive) |
                  pthread_mutex_lock(&m_robust) | pthread_rwlock_rdlock(&rw);
      about_to_block(i);
      wait_sem(&holder_go); /* the point passes; then the main thread lets us go */
      holder_unlock[0] = pthread_mutex_unlock(&m_normal);
      holder_unlock[1] = pthread_mutex_unlock(&m_errcheck);
      holder_unlock[2] = pthread_mutex_unlock(&m_recursive);
      holder_unlock[3] = pthread_mutex_unlock(&m_recursive);
      holder_unlock[4] = pthread_mutex_unlock(&m_robust);
      holder_unlock[5] = pthread_rwlock_unlock(&rw);
      r->result2 = pthread_mutex_unlock(&m_errcheck); /* no longer ours: EPERM */
      break;
    case kLocker:
      about_to_block(i);
      r->result = pthread_mutex_lock(&m_errcheck);
      r->result2 = pthread_mutex_unlock(&m_errcheck);
      break;
    case kWriter:
      about_to_block(i);
      r->result = pthread_rwlock_wrlock(&rw);
      r->result2 = pthread_rwlock_unlock(&rw);
      break;
    case kCondWaiter:
      pthread_mutex_lock(&cv_lock);
      about_to_block(i);
      while (!cv_flag && r->result == 0) r->result = pthread_cond_wait(&cv, &cv_lock);
      r->result2 = pthread_mutex_unlock(&cv_lock);
      break;
    case kTimedWaiter: {
      struct timespec until;
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_sec += 30;
      pthread_mutex_lock(&cv_lock);
      about_to_block(i);
      while (!cv_timed_flag && r->result == 0) r->result = pthread_cond_timedwait(&cv_timed, &cv_lock, &until);
      r->result2 = pthread_mutex_unlock(&cv_lock);
      break;
    }
    case kSemWaiter:
      about_to_block(i);
      r->result = sem_wait(&sem) == 0 ? 0 : errno;
      break;
    case kBarrier1:
    case kBarrier2:
      about_to_block(i);
      r->serial = pthread_barrier_wait(&barrier);
      r->result = r->serial == 0 || r->serial == PTHREAD_BARRIER_SERIAL_THREAD ? 0 : r->serial;
      break;
    case kDead:
      r->result = pthread_mutex_lock(&m_robust_dead);
      about_to_block(i);
      wait_sem(&dead_go);
      /* Ends holding m_robust_dead: the next locker gets EOWNERDEAD. */
      break;
  }
  r->tls_ok = tls_still(i);
  return NULL;
}

static void await_blocked(int i) { scenario_await_asleep(&rep[i].blocking, &rep[i].tid, kNames[i]); }

static void init_mutex(pthread_mutex_t* m, int type, int robust) {
  pthread_mutexattr_t a;
  must(-pthread_mutexattr_init(&a));
  must(-pthread_mutexattr_settype(&a, type));
  if (robust) must(-pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST));
  must(-pthread_mutex_init(m, &a));
  pthread_mutexattr_destroy(&a);
}

int main(void) {
  init_mutex(&m_normal, PTHREAD_MUTEX_NORMAL, 0);
  init_mutex(&m_errcheck, PTHREAD_MUTEX_ERRORCHECK, 0);
  init_mutex(&m_recursive, PTHREAD_MUTEX_RECURSIVE, 0);
  init_mutex(&m_robust, PTHREAD_MUTEX_NORMAL, 1);
  init_mutex(&m_robust_dead, PTHREAD_MUTEX_NORMAL, 1);
  pthread_condattr_t ca;
  must(-pthread_condattr_init(&ca));
  must(-pthread_condattr_setclock(&ca, CLOCK_MONOTONIC));
  must(-pthread_cond_init(&cv_timed, &ca));
  must(sem_init(&sem, 0, 0));
  must(sem_init(&holder_go, 0, 0));
  must(sem_init(&dead_go, 0, 0));
  must(-pthread_barrier_init(&barrier, NULL, 3));
  must(-pthread_key_create(&key, NULL));
  set_tls(kThreads);

  pthread_t th[kThreads];
  /* The holder first: the others block on what it holds. */
  must(-pthread_create(&th[kHolder], NULL, thread_main, (void*)(intptr_t)kHolder));
  await_blocked(kHolder);
  for (int i = kHolder + 1; i < kThreads; i++) must(-pthread_create(&th[i], NULL, thread_main, (void*)(intptr_t)i));
  for (int i = kHolder + 1; i < kThreads; i++) await_blocked(i);
  /* The waiters on cv_lock released it inside pthread_cond_*wait. */
  must(-pthread_mutex_lock(&cv_lock));
  must(-pthread_mutex_unlock(&cv_lock));
  check(rep[kHolder].result == 0, "holder: locked normal, errorcheck, recursive (twice), robust mutexes and a read lock");
  check(rep[kDead].result == 0, "dead-owner: locked a robust mutex");

  SCENARIO_CKPT_POINT(); /* every thread is blocked in, or holding, what it tests */

  /* The holder's mutexes are still held, and by it. */
  check(pthread_mutex_trylock(&m_normal) == EBUSY, "normal mutex held across the point: trylock EBUSY");
  check(pthread_mutex_trylock(&m_errcheck) == EBUSY, "errorcheck mutex: trylock EBUSY");
  check(pthread_mutex_unlock(&m_errcheck) == EPERM, "errorcheck mutex: unlock by another thread: EPERM");
  check(pthread_mutex_trylock(&m_recursive) == EBUSY, "recursive mutex: trylock EBUSY");
  check(pthread_mutex_unlock(&m_recursive) == EPERM, "recursive mutex: unlock by another thread: EPERM");
  check(pthread_mutex_trylock(&m_robust) == EBUSY, "robust mutex: trylock EBUSY");
  check(pthread_mutex_unlock(&m_robust) == EPERM, "robust mutex: unlock by another thread: EPERM");
  check(pthread_rwlock_trywrlock(&rw) == EBUSY, "rwlock read-held: trywrlock EBUSY");

  sem_post(&holder_go);
  must(-pthread_join(th[kHolder], NULL));
  for (int i = 0; i < 6; i++)
    require(holder_unlock[i] == 0, "holder: unlock %d after the point returned %s", i, strerror(holder_unlock[i]));
  check(holder_unlock[0] == 0 && holder_unlock[1] == 0, "holder: unlock of normal and errorcheck mutexes: 0");
  check(holder_unlock[2] == 0 && holder_unlock[3] == 0, "holder: both unlocks of the recursive mutex: 0");
  check(holder_unlock[4] == 0 && holder_unlock[5] == 0, "holder: unlock of the robust mutex and the read lock: 0");
  check(rep[kHolder].result2 == EPERM, "holder: a second unlock of the errorcheck mutex: EPERM");

  must(-pthread_join(th[kLocker], NULL));
  check(rep[kLocker].result == 0 && rep[kLocker].result2 == 0,
        "locker blocked in pthread_mutex_lock across the point: got the mutex (0), unlock 0");
  must(-pthread_join(th[kWriter], NULL));
  check(rep[kWriter].result == 0 && rep[kWriter].result2 == 0,
        "writer blocked in pthread_rwlock_wrlock across the point: got it (0), unlock 0");

  must(-pthread_mutex_lock(&cv_lock));
  cv_flag = 1;
  cv_timed_flag = 1;
  must(-pthread_cond_signal(&cv));
  must(-pthread_cond_signal(&cv_timed));
  must(-pthread_mutex_unlock(&cv_lock));
  must(-pthread_join(th[kCondWaiter], NULL));
  check(rep[kCondWaiter].result == 0 && rep[kCondWaiter].result2 == 0,
        "pthread_cond_wait across the point, then signalled: 0, its mutex unlocks with 0");
  must(-pthread_join(th[kTimedWaiter], NULL));
  check(rep[kTimedWaiter].result == 0 && rep[kTimedWaiter].result2 == 0,
        "pthread_cond_timedwait (30 s) across the point, then signalled: 0 (no ETIMEDOUT)");

  must(sem_post(&sem));
  must(-pthread_join(th[kSemWaiter], NULL));
  check(rep[kSemWaiter].result == 0, "sem_wait across the point, then posted: 0 (no EINTR)");

  int serial = pthread_barrier_wait(&barrier);
  must(-pthread_join(th[kBarrier1], NULL));
  must(-pthread_join(th[kBarrier2], NULL));
  int serials = (serial == PTHREAD_BARRIER_SERIAL_THREAD) + (rep[kBarrier1].serial == PTHREAD_BARRIER_SERIAL_THREAD) +
                (rep[kBarrier2].serial == PTHREAD_BARRIER_SERIAL_THREAD);
  check(rep[kBarrier1].result == 0 && rep[kBarrier2].result == 0 && serials == 1,
        "pthread_barrier_wait across the point: all three pass, one is PTHREAD_BARRIER_SERIAL_THREAD");

  sem_post(&dead_go);
  must(-pthread_join(th[kDead], NULL));
  int r = pthread_mutex_lock(&m_robust_dead);
  check(r == EOWNERDEAD, "robust mutex whose owner ended holding it: EOWNERDEAD");
  check(pthread_mutex_consistent(&m_robust_dead) == 0 && pthread_mutex_unlock(&m_robust_dead) == 0,
        "pthread_mutex_consistent, unlock: 0");

  /* Everything is free again. */
  check(pthread_mutex_lock(&m_normal) == 0 && pthread_mutex_unlock(&m_normal) == 0 &&
            pthread_mutex_lock(&m_errcheck) == 0 && pthread_mutex_unlock(&m_errcheck) == 0 &&
            pthread_mutex_lock(&m_recursive) == 0 && pthread_mutex_unlock(&m_recursive) == 0 &&
            pthread_mutex_lock(&m_robust) == 0 && pthread_mutex_unlock(&m_robust) == 0 &&
            pthread_rwlock_wrlock(&rw) == 0 && pthread_rwlock_unlock(&rw) == 0,
        "the main thread locks and unlocks each mutex and the rwlock: 0");

  int tls_ok = tls_still(kThreads);
  for (int i = 0; i < kThreads; i++) tls_ok = tls_ok && rep[i].tls_ok;
  check(tls_ok, "every thread's __thread values and pthread_getspecific are its own");
  return scenario_done();
}
