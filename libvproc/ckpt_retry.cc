#include "ckpt_retry.h"

#include <sys/syscall.h>
#include <time.h>

#include "raw_syscall.h"

namespace vproc::lib {

bool arm_ckpt_retry(CkptState& c, int sig, uint64_t value, int64_t delay_ns) {
  CkptQuiesce& q = c.quiesce;
  if (q.retry_armed.load(std::memory_order_acquire)) return true;  // one is on its way
  // glibc's struct sigevent has the kernel's layout for SIGEV_SIGNAL.
  struct sigevent sev {};
  sev.sigev_notify = SIGEV_SIGNAL;  // to the process: any thread not blocking it takes it
  sev.sigev_signo = sig;
  sev.sigev_value.sival_ptr = reinterpret_cast<void*>(uintptr_t(value));
  int id = 0;
  if (raw::failed(raw::sys(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id))) return false;
  struct itimerspec when {};
  when.it_value.tv_sec = delay_ns / 1'000'000'000;
  when.it_value.tv_nsec = delay_ns % 1'000'000'000;
  q.retry_timer = id;
  q.retry_pid = int(raw::sys(SYS_getpid));
  q.retry_armed.store(true, std::memory_order_release);
  if (raw::failed(raw::sys(SYS_timer_settime, id, 0, &when, nullptr))) {
    q.retry_armed.store(false, std::memory_order_release);
    raw::sys(SYS_timer_delete, id);
    return false;
  }
  return true;
}

bool is_ckpt_retry(const CkptState& c, const siginfo_t* si) {
  const CkptQuiesce& q = c.quiesce;
  return si && si->si_code == SI_TIMER && q.retry_armed.load(std::memory_order_acquire) &&
         si->si_timerid == q.retry_timer && q.retry_pid == int(raw::sys(SYS_getpid));
}

bool take_ckpt_retry(CkptState& c, const siginfo_t* si) {
  if (!is_ckpt_retry(c, si)) return false;
  CkptQuiesce& q = c.quiesce;
  bool armed = true;
  // Two deliveries cannot both delete it: the timer is one-shot, and a copy
  // re-queued by sigwait (ckpt_sigwait.cc) is the same delivery.
  if (q.retry_armed.compare_exchange_strong(armed, false, std::memory_order_acq_rel))
    raw::sys(SYS_timer_delete, q.retry_timer);
  return true;
}

}  // namespace vproc::lib
