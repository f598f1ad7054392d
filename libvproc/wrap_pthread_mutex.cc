// pthread mutex and condition-variable calls: a mutex locked before a
// checkpoint is adopted by its restored owner first (mutex_adopt.h). The
// condition waits unlock the mutex inside glibc, where no wrapper sees it.
#include <pthread.h>
#include <time.h>

#include "libc_boundary.h"
#include "mutex_adopt.h"
#include "real_fn.h"

using namespace vproc::lib;

VPROC_REAL(pthread_mutex_lock);
VPROC_REAL(pthread_mutex_trylock);
VPROC_REAL(pthread_mutex_timedlock);
VPROC_REAL(pthread_mutex_clocklock);
VPROC_REAL(pthread_mutex_unlock);
VPROC_REAL(pthread_cond_wait);
VPROC_REAL(pthread_cond_timedwait);
VPROC_REAL(pthread_cond_clockwait);

VPROC_EXPORT int pthread_mutex_lock(pthread_mutex_t* m) noexcept {
  adopt_mutex(m, MutexUse::Locking);
  return real_pthread_mutex_lock(m);
}

VPROC_EXPORT int pthread_mutex_trylock(pthread_mutex_t* m) noexcept {
  adopt_mutex(m, MutexUse::Locking);
  return real_pthread_mutex_trylock(m);
}

VPROC_EXPORT int pthread_mutex_timedlock(pthread_mutex_t* m, const struct timespec* at) noexcept {
  adopt_mutex(m, MutexUse::Locking);
  return real_pthread_mutex_timedlock(m, at);
}

VPROC_EXPORT int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t clock, const struct timespec* at) noexcept {
  adopt_mutex(m, MutexUse::Locking);
  return real_pthread_mutex_clocklock(m, clock, at);
}

VPROC_EXPORT int pthread_mutex_unlock(pthread_mutex_t* m) noexcept {
  adopt_mutex(m, MutexUse::Holding);
  return real_pthread_mutex_unlock(m);
}

VPROC_EXPORT int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  adopt_mutex(m, MutexUse::Holding);
  return real_pthread_cond_wait(c, m);
}

VPROC_EXPORT int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m, const struct timespec* at) {
  adopt_mutex(m, MutexUse::Holding);
  return real_pthread_cond_timedwait(c, m, at);
}

VPROC_EXPORT int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                                        const struct timespec* at) {
  adopt_mutex(m, MutexUse::Holding);
  return real_pthread_cond_clockwait(c, m, clock, at);
}
