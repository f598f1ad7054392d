#include "pidfd.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace vproc::daemon {
namespace {

// Not in Debian 12's headers (Linux 6.1 uapi).
constexpr unsigned kPidfdThread = 0x80;  // PIDFD_THREAD == O_EXCL, Linux 6.9
constexpr unsigned kPidfdSignalThreadGroup = 1u << 1;

}  // namespace

int open_pidfd(RealPid pid, bool thread) {
  if (!pid || pid.value >= kRealPidLimit) return -ESRCH;
  // pidfds are always close-on-exec (the kernel sets O_CLOEXEC itself).
  long fd = syscall(SYS_pidfd_open, pid_t(pid.value), thread ? kPidfdThread : 0u);
  return fd < 0 ? -errno : int(fd);
}

int signal_pidfd(int pidfd, int signo, bool thread_group) {
  long r = syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr,
                   thread_group ? kPidfdSignalThreadGroup : 0u);
  return r < 0 ? -errno : 0;
}

int queue_pidfd(int pidfd, const siginfo_t& info) {
  siginfo_t copy = info;  // the kernel takes a non-const pointer
  long r = syscall(SYS_pidfd_send_signal, pidfd, info.si_signo, &copy, 0u);
  return r < 0 ? -errno : 0;
}

}  // namespace vproc::daemon
