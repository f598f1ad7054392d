// syscall(): a program bypassing libc still goes through this function, so every
// call number that carries or returns a pid, or a /proc path, is routed to the
// wrapper that translates it. Everything else is the plain system call.
//
// Where the libc function of the same name behaves like the kernel, the
// exported wrapper is called (the call binds to our own definition); where it
// does not (getpriority's encoding, sched_getaffinity's return value, the
// kernel's struct sigaction, ...), sys_entry.h has the kernel-level version.
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
// glibc 2.36's <sys/pidfd.h> lacks the extern "C" block its other headers have.
extern "C" {
#include <sys/pidfd.h>
}

#include "libc_boundary.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "state.h"
#include "sys_entry.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(syscall);

namespace {

// The kernel's convention to libc's.
long libc_result(long r) {
  if (raw::failed(r)) {
    errno = int(-r);
    return -1;
  }
  return r;
}

template <typename T>
T* ptr(long v) {
  return reinterpret_cast<T*>(v);
}

// The first clone3 layout (CLONE_ARGS_SIZE_VER0): flags .. tls.
constexpr size_t kCloneArgsV0 = 64;

long dispatch(long n, const long a[6]) {
  switch (n) {
    // Identity, groups, sessions.
    case SYS_getpid: return ::getpid();
    case SYS_getppid: return ::getppid();
    case SYS_gettid: return ::gettid();
    case SYS_getpgid: return ::getpgid(pid_t(a[0]));
    case SYS_setpgid: return ::setpgid(pid_t(a[0]), pid_t(a[1]));
    case SYS_getpgrp: return ::getpgrp();
    case SYS_getsid: return ::getsid(pid_t(a[0]));
    case SYS_setsid: return ::setsid();

    // Creation. fork and vfork as _Fork: no atfork handlers, like the system
    // call; vfork's shared memory cannot be had through a C function (see
    // wrap_fork.cc). A clone that is exactly vfork goes the same way.
    case SYS_fork:
    case SYS_vfork: return ::_Fork();
    case SYS_clone: {
      unsigned long flags = a[0];
      if (flags == (CLONE_VM | CLONE_VFORK | SIGCHLD) && a[1] == 0) return ::_Fork();
      if (!sys::clone_is_fork_like(flags, a[1] != 0)) break;
      return libc_result(sys::clone(flags, ptr<void>(a[1]), ptr<int>(a[2]), ptr<int>(a[3]),
                                    (unsigned long)a[4]));
    }
    case SYS_clone3: {
      auto* args = ptr<struct clone_args>(a[0]);
      if (!args || size_t(a[1]) < kCloneArgsV0 ||
          !sys::clone_is_fork_like(args->flags, args->stack != 0))
        break;
      return libc_result(sys::clone3(args, size_t(a[1])));
    }
    case SYS_execve: return ::execve(ptr<const char>(a[0]), ptr<char* const>(a[1]), ptr<char* const>(a[2]));
    case SYS_execveat:
      return ::execveat(int(a[0]), ptr<const char>(a[1]), ptr<char* const>(a[2]),
                        ptr<char* const>(a[3]), int(a[4]));

    // Waiting.
    case SYS_wait4: return ::wait4(pid_t(a[0]), ptr<int>(a[1]), int(a[2]), ptr<struct rusage>(a[3]));
    case SYS_waitid:
      return libc_result(sys::waitid(int(a[0]), id_t(a[1]), ptr<siginfo_t>(a[2]), int(a[3]), ptr<void>(a[4])));

    // Signals.
    case SYS_kill: return ::kill(pid_t(a[0]), int(a[1]));
    case SYS_tgkill: return ::tgkill(pid_t(a[0]), pid_t(a[1]), int(a[2]));
    case SYS_tkill: return libc_result(sys::tkill(pid_t(a[0]), int(a[1])));
    case SYS_rt_sigqueueinfo:
      return libc_result(sys::rt_sigqueueinfo(pid_t(a[0]), int(a[1]), ptr<const siginfo_t>(a[2])));
    case SYS_rt_tgsigqueueinfo:
      return libc_result(
          sys::rt_tgsigqueueinfo(pid_t(a[0]), pid_t(a[1]), int(a[2]), ptr<const siginfo_t>(a[3])));
    case SYS_pidfd_open: return ::pidfd_open(pid_t(a[0]), unsigned(a[1]));
    case SYS_pidfd_send_signal:
      return libc_result(
          sys::pidfd_send_signal(int(a[0]), int(a[1]), ptr<const siginfo_t>(a[2]), unsigned(a[3])));
    case SYS_rt_sigaction:
      return libc_result(sys::rt_sigaction(int(a[0]), ptr<const void>(a[1]), ptr<void>(a[2]), size_t(a[3])));
    case SYS_rt_sigprocmask:
      return libc_result(sys::rt_sigprocmask(int(a[0]), ptr<const void>(a[1]), ptr<void>(a[2]), size_t(a[3])));
    case SYS_rt_sigsuspend: return libc_result(sys::rt_sigsuspend(ptr<const void>(a[0]), size_t(a[1])));
    case SYS_rt_sigtimedwait:
      return libc_result(
          sys::rt_sigtimedwait(ptr<const void>(a[0]), ptr<siginfo_t>(a[1]), ptr<const void>(a[2]), size_t(a[3])));
    case SYS_signalfd: return libc_result(sys::signalfd4(int(a[0]), ptr<const void>(a[1]), size_t(a[2]), 0));
    case SYS_signalfd4:
      return libc_result(sys::signalfd4(int(a[0]), ptr<const void>(a[1]), size_t(a[2]), int(a[3])));
    case SYS_timer_create:
      return libc_result(sys::timer_create(clockid_t(a[0]), ptr<const struct sigevent>(a[1]), ptr<int>(a[2])));

    // Sleeps and waits: they go on after a checkpoint instead of failing with EINTR.
    case SYS_nanosleep: return libc_result(sys::nanosleep(ptr<const struct timespec>(a[0]), ptr<struct timespec>(a[1])));
    case SYS_clock_nanosleep:
      return libc_result(sys::clock_nanosleep(clockid_t(a[0]), int(a[1]), ptr<const struct timespec>(a[2]),
                                              ptr<struct timespec>(a[3])));
    case SYS_poll: return libc_result(sys::poll(ptr<struct pollfd>(a[0]), (unsigned long)a[1], int(a[2])));
    case SYS_ppoll:
      return libc_result(sys::ppoll(ptr<struct pollfd>(a[0]), (unsigned long)a[1], ptr<struct timespec>(a[2]),
                                    ptr<const void>(a[3]), size_t(a[4])));
    case SYS_select:
      return libc_result(sys::select(int(a[0]), ptr<void>(a[1]), ptr<void>(a[2]), ptr<void>(a[3]), ptr<void>(a[4])));
    case SYS_pselect6:
      return libc_result(sys::pselect6(int(a[0]), ptr<void>(a[1]), ptr<void>(a[2]), ptr<void>(a[3]), ptr<void>(a[4]),
                                       ptr<void>(a[5])));
    case SYS_epoll_wait: return libc_result(sys::epoll_wait(int(a[0]), ptr<void>(a[1]), int(a[2]), int(a[3])));
    case SYS_epoll_pwait:
      return libc_result(sys::epoll_pwait(int(a[0]), ptr<void>(a[1]), int(a[2]), int(a[3]), ptr<const void>(a[4]),
                                          size_t(a[5])));
    case SYS_epoll_pwait2:
      return libc_result(sys::epoll_pwait2(int(a[0]), ptr<void>(a[1]), int(a[2]), ptr<const struct timespec>(a[3]),
                                           ptr<const void>(a[4]), size_t(a[5])));
    case SYS_pause: return libc_result(sys::pause());
    case SYS_futex:
      return libc_result(sys::futex(ptr<uint32_t>(a[0]), int(a[1]), uint32_t(a[2]), ptr<const struct timespec>(a[3]),
                                    ptr<uint32_t>(a[4]), uint32_t(a[5])));

    // Descriptors.
    case SYS_read: return ::read(int(a[0]), ptr<void>(a[1]), size_t(a[2]));
    case SYS_readv: return ::readv(int(a[0]), ptr<const struct iovec>(a[1]), int(a[2]));
    case SYS_close: return ::close(int(a[0]));
    case SYS_close_range: return ::close_range(unsigned(a[0]), unsigned(a[1]), int(a[2]));
    case SYS_dup: return ::dup(int(a[0]));
    case SYS_dup2: return ::dup2(int(a[0]), int(a[1]));
    case SYS_dup3: return ::dup3(int(a[0]), int(a[1]), int(a[2]));
    case SYS_fcntl: return ::fcntl(int(a[0]), int(a[1]), a[2]);
    case SYS_ioctl: return ::ioctl(int(a[0]), (unsigned long)a[1], a[2]);
    case SYS_getsockopt:
      return ::getsockopt(int(a[0]), int(a[1]), int(a[2]), ptr<void>(a[3]), ptr<socklen_t>(a[4]));
    case SYS_recvmsg: return ::recvmsg(int(a[0]), ptr<struct msghdr>(a[1]), int(a[2]));
    case SYS_recvmmsg:
      return ::recvmmsg(int(a[0]), ptr<struct mmsghdr>(a[1]), unsigned(a[2]), int(a[3]),
                        ptr<struct timespec>(a[4]));
    case SYS_sendmsg: return ::sendmsg(int(a[0]), ptr<const struct msghdr>(a[1]), int(a[2]));

    // Scheduling, priority, limits, memory of another process.
    case SYS_sched_setaffinity:
      return ::sched_setaffinity(pid_t(a[0]), size_t(a[1]), ptr<const cpu_set_t>(a[2]));
    case SYS_sched_getaffinity: return libc_result(sys::sched_getaffinity(pid_t(a[0]), size_t(a[1]), ptr<void>(a[2])));
    case SYS_sched_setparam: return ::sched_setparam(pid_t(a[0]), ptr<const struct sched_param>(a[1]));
    case SYS_sched_getparam: return ::sched_getparam(pid_t(a[0]), ptr<struct sched_param>(a[1]));
    case SYS_sched_setscheduler:
      return ::sched_setscheduler(pid_t(a[0]), int(a[1]), ptr<const struct sched_param>(a[2]));
    case SYS_sched_getscheduler: return ::sched_getscheduler(pid_t(a[0]));
    case SYS_sched_rr_get_interval: return ::sched_rr_get_interval(pid_t(a[0]), ptr<struct timespec>(a[1]));
    case SYS_sched_setattr: return libc_result(sys::sched_setattr(pid_t(a[0]), ptr<void>(a[1]), unsigned(a[2])));
    case SYS_sched_getattr:
      return libc_result(sys::sched_getattr(pid_t(a[0]), ptr<void>(a[1]), unsigned(a[2]), unsigned(a[3])));
    case SYS_getpriority: return libc_result(sys::getpriority(int(a[0]), id_t(a[1])));
    case SYS_setpriority: return ::setpriority(__priority_which_t(a[0]), id_t(a[1]), int(a[2]));
    case SYS_prlimit64:
      return ::prlimit64(pid_t(a[0]), (enum __rlimit_resource)(a[1]), ptr<const struct rlimit64>(a[2]),
                         ptr<struct rlimit64>(a[3]));
    case SYS_process_vm_readv:
      return ::process_vm_readv(pid_t(a[0]), ptr<const struct iovec>(a[1]), (unsigned long)a[2],
                                ptr<const struct iovec>(a[3]), (unsigned long)a[4], (unsigned long)a[5]);
    case SYS_process_vm_writev:
      return ::process_vm_writev(pid_t(a[0]), ptr<const struct iovec>(a[1]), (unsigned long)a[2],
                                 ptr<const struct iovec>(a[3]), (unsigned long)a[4], (unsigned long)a[5]);

    // Paths (/proc/<vpid>/...).
    case SYS_open: return ::open(ptr<const char>(a[0]), int(a[1]), mode_t(a[2]));
    case SYS_openat: return ::openat(int(a[0]), ptr<const char>(a[1]), int(a[2]), mode_t(a[3]));
    case SYS_openat2:
      return libc_result(sys::openat2(int(a[0]), ptr<const char>(a[1]), ptr<const struct open_how>(a[2]), size_t(a[3])));
    case SYS_creat: return ::creat(ptr<const char>(a[0]), mode_t(a[1]));
    case SYS_stat: return ::stat(ptr<const char>(a[0]), ptr<struct stat>(a[1]));
    case SYS_lstat: return ::lstat(ptr<const char>(a[0]), ptr<struct stat>(a[1]));
    case SYS_newfstatat: return ::fstatat(int(a[0]), ptr<const char>(a[1]), ptr<struct stat>(a[2]), int(a[3]));
    case SYS_statx:
      return ::statx(int(a[0]), ptr<const char>(a[1]), int(a[2]), unsigned(a[3]), ptr<struct statx>(a[4]));
    case SYS_readlink: return ::readlink(ptr<const char>(a[0]), ptr<char>(a[1]), size_t(a[2]));
    case SYS_readlinkat: return ::readlinkat(int(a[0]), ptr<const char>(a[1]), ptr<char>(a[2]), size_t(a[3]));
    case SYS_access: return ::access(ptr<const char>(a[0]), int(a[1]));
    case SYS_faccessat: return ::faccessat(int(a[0]), ptr<const char>(a[1]), int(a[2]), 0);
    case SYS_faccessat2: return ::faccessat(int(a[0]), ptr<const char>(a[1]), int(a[2]), int(a[3]));
    case SYS_chdir: return ::chdir(ptr<const char>(a[0]));
    case SYS_truncate: return ::truncate(ptr<const char>(a[0]), off_t(a[1]));
    default: break;
  }
  // Not ours (or a clone we must not touch): glibc's syscall, whose frame-less
  // code lets a clone child on a new stack return where the program expects.
  return real_syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

}  // namespace

VPROC_EXPORT long syscall(long number, ...) noexcept {
  // Six arguments, as glibc's syscall() passes on whatever the number takes.
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (long& v : a) v = va_arg(ap, long);
  va_end(ap);
  if (!active()) return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
  return dispatch(number, a);
}
