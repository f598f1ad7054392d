// Calls that act on another task by pid: scheduling (sched_*), priority
// (get/setpriority), resource limits (prlimit), and memory access
// (process_vm_readv/writev).
//
// The kernel resolves these pids as tasks (find_task_by_vpid), so a thread id
// works as well as a process id: both translate as a vtid (a process's vpid is
// its main thread's vtid). 0 means the caller and passes through.
#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "libc_boundary.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "state.h"
#include "sys_entry.h"
#include "translate.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(sched_setaffinity);
VPROC_REAL(sched_getaffinity);
VPROC_REAL(sched_setparam);
VPROC_REAL(sched_getparam);
VPROC_REAL(sched_setscheduler);
VPROC_REAL(sched_getscheduler);
VPROC_REAL(sched_rr_get_interval);
VPROC_REAL(getpriority);
VPROC_REAL(setpriority);
VPROC_REAL(prlimit);
VPROC_REAL(prlimit64);
VPROC_REAL(process_vm_readv);
VPROC_REAL(process_vm_writev);

namespace vproc::lib::sys {

long task_to_real(pid_t pid) {
  if (pid <= 0) return pid;  // 0: the caller; negative: the kernel's EINVAL/ESRCH
  long r = to_real_tid(pid);
  // A vpid nobody uses is a pid that does not exist: ESRCH, as the kernel says.
  return r < 0 && r != -EREMOTE ? -ESRCH : r;
}

long priority_who_to_real(int which, id_t who) {
  if (who == 0 || which == PRIO_USER) return long(who);  // self / a uid
  if (which == PRIO_PGRP) {
    long r = to_real_pgid(pid_t(who));
    return r < 0 && r != -EREMOTE ? -ESRCH : r;
  }
  return task_to_real(pid_t(who));  // PRIO_PROCESS: a task
}

long getpriority(int which, id_t who) {
  long w = priority_who_to_real(which, who);
  if (w < 0) return w;
  return raw::sys(SYS_getpriority, which, w);  // the kernel's 20 - nice
}

long sched_getaffinity(pid_t pid, size_t size, void* mask) {
  long r = task_to_real(pid);
  if (r < 0) return r;
  return raw::sys(SYS_sched_getaffinity, r, size, mask);  // bytes copied
}

long sched_setattr(pid_t pid, void* attr, unsigned flags) {
  long r = task_to_real(pid);
  if (r < 0) return r;
  return raw::sys(SYS_sched_setattr, r, attr, flags);
}

long sched_getattr(pid_t pid, void* attr, unsigned size, unsigned flags) {
  long r = task_to_real(pid);
  if (r < 0) return r;
  return raw::sys(SYS_sched_getattr, r, attr, size, flags);
}

}  // namespace vproc::lib::sys

namespace {

// Calls `real(real_pid, args...)` with the pid translated, or fails like the kernel.
template <typename Real, typename... A>
auto with_task(Real& real, pid_t pid, A... args) -> decltype(real(pid, args...)) {
  if (!active() || pid <= 0) return real(pid, args...);
  long r = sys::task_to_real(pid);
  if (r < 0) return fail_errno(int(r));
  return real(pid_t(r), args...);
}

}  // namespace

VPROC_EXPORT int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t* mask) noexcept {
  return with_task(real_sched_setaffinity, pid, size, mask);
}

VPROC_EXPORT int sched_getaffinity(pid_t pid, size_t size, cpu_set_t* mask) noexcept {
  return with_task(real_sched_getaffinity, pid, size, mask);
}

VPROC_EXPORT int sched_setparam(pid_t pid, const struct sched_param* param) noexcept {
  return with_task(real_sched_setparam, pid, param);
}

VPROC_EXPORT int sched_getparam(pid_t pid, struct sched_param* param) noexcept {
  return with_task(real_sched_getparam, pid, param);
}

VPROC_EXPORT int sched_setscheduler(pid_t pid, int policy, const struct sched_param* param) noexcept {
  return with_task(real_sched_setscheduler, pid, policy, param);
}

VPROC_EXPORT int sched_getscheduler(pid_t pid) noexcept {
  return with_task(real_sched_getscheduler, pid);
}

VPROC_EXPORT int sched_rr_get_interval(pid_t pid, struct timespec* interval) noexcept {
  return with_task(real_sched_rr_get_interval, pid, interval);
}

VPROC_EXPORT int getpriority(__priority_which_t which, id_t who) noexcept {
  if (!active()) return real_getpriority(which, who);
  long w = sys::priority_who_to_real(which, who);
  if (w < 0) return fail_errno(int(w));
  return real_getpriority(which, id_t(w));
}

VPROC_EXPORT int setpriority(__priority_which_t which, id_t who, int prio) noexcept {
  if (!active()) return real_setpriority(which, who, prio);
  long w = sys::priority_who_to_real(which, who);
  if (w < 0) return fail_errno(int(w));
  return real_setpriority(which, id_t(w), prio);
}

VPROC_EXPORT int prlimit(pid_t pid, enum __rlimit_resource resource, const struct rlimit* new_limit,
                         struct rlimit* old_limit) noexcept {
  return with_task(real_prlimit, pid, resource, new_limit, old_limit);
}

VPROC_EXPORT int prlimit64(pid_t pid, enum __rlimit_resource resource, const struct rlimit64* new_limit,
                           struct rlimit64* old_limit) noexcept {
  return with_task(real_prlimit64, pid, resource, new_limit, old_limit);
}

VPROC_EXPORT ssize_t process_vm_readv(pid_t pid, const struct iovec* local, unsigned long liovcnt,
                                      const struct iovec* remote, unsigned long riovcnt,
                                      unsigned long flags) noexcept {
  return with_task(real_process_vm_readv, pid, local, liovcnt, remote, riovcnt, flags);
}

VPROC_EXPORT ssize_t process_vm_writev(pid_t pid, const struct iovec* local, unsigned long liovcnt,
                                       const struct iovec* remote, unsigned long riovcnt,
                                       unsigned long flags) noexcept {
  return with_task(real_process_vm_writev, pid, local, liovcnt, remote, riovcnt, flags);
}
