#include "shadow_signals.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <initializer_list>

#include "shadow_wake.h"

namespace vproc::shadow {
namespace {

// The kernel's signal set and sigaction, used directly: glibc's wrappers
// refuse or silently drop its two internal signals (32 and 33), which are
// ordinary real-time signals for the guest.
constexpr int kMaxSignal = 64;
constexpr uint64_t bit(int sig) { return uint64_t{1} << (sig - 1); }
constexpr uint64_t kForwarded = ~(bit(SIGKILL) | bit(SIGSTOP) | bit(SIGPIPE) | bit(SIGCHLD));

struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

void set_disposition(int sig, void (*handler)(int)) {
  KernelSigaction ka{handler, 0, nullptr, 0};
  syscall(SYS_rt_sigaction, sig, &ka, nullptr, sizeof(uint64_t));
}

int set_mask(int how, uint64_t mask) {
  return int(syscall(SYS_rt_sigprocmask, how, &mask, nullptr, sizeof mask));
}

}  // namespace

int take_signals() {
  for (int sig = 1; sig <= kMaxSignal; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) set_disposition(sig, sig == SIGPIPE ? SIG_IGN : SIG_DFL);
  // The original's alarm() or setitimer() timers would go on firing here too,
  // and the guest has its own.
  itimerval off{};
  for (int which : {ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF}) setitimer(which, &off, nullptr);
  // SIGCHLD too: the children the process left behind (shadow_children.h).
  uint64_t mask = kForwarded | bit(SIGCHLD);
  if (set_mask(SIG_SETMASK, mask) != 0) return -errno;
  int fd = int(syscall(SYS_signalfd4, -1, &mask, sizeof mask, SFD_NONBLOCK | SFD_CLOEXEC));
  return fd < 0 ? -errno : fd;
}

Arrived next_signal(int signal_fd) {
  signalfd_siginfo si;
  for (;;) {
    ssize_t n = read(signal_fd, &si, sizeof si);
    if (n == ssize_t(sizeof si)) {
      bool wake = si.ssi_signo == SIGCONT && si.ssi_code == SI_QUEUE && si.ssi_int == kShadowWakeValue;
      return Arrived{int(si.ssi_signo), wake};
    }
    if (n < 0 && errno == EINTR) continue;
    return Arrived{};
  }
}

bool is_terminal_stop(int signo) { return signo == SIGTSTP || signo == SIGTTIN || signo == SIGTTOU; }

void stop_with(int sig) {
  // SIGCONT stays blocked (it still continues a stopped process) and becomes
  // pending, which tells whether the stop happened.
  uint64_t cont = bit(SIGCONT);
  timespec zero{0, 0};
  while (syscall(SYS_rt_sigtimedwait, &cont, nullptr, &zero, sizeof cont) > 0) {
  }
  if (sig != SIGSTOP && is_terminal_stop(sig)) {
    set_disposition(sig, SIG_DFL);
    // Unblocked for one system call: the kernel delivers it on the way out
    // of the sigprocmask that unblocks it, so the process stops right there.
    syscall(SYS_tgkill, getpid(), gettid(), sig);
    set_mask(SIG_UNBLOCK, bit(sig));
    set_mask(SIG_BLOCK, bit(sig));
    uint64_t pending = 0;
    syscall(SYS_rt_sigpending, &pending, sizeof pending);
    if (pending & cont) return;  // stopped, and continued since
  }
  syscall(SYS_tgkill, getpid(), gettid(), SIGSTOP);
}

void exit_like(int wait_status) {
  if (WIFEXITED(wait_status)) _exit(WEXITSTATUS(wait_status));
  if (!WIFSIGNALED(wait_status)) _exit(255);
  int sig = WTERMSIG(wait_status);
  // The guest dumped its core (if it did) where it ran. RLIMIT_CORE alone
  // does not stop a core_pattern pipe; a process that is not dumpable dumps
  // nothing.
  rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  set_disposition(sig, SIG_DFL);
  set_mask(SIG_UNBLOCK, bit(sig));
  syscall(SYS_tgkill, getpid(), gettid(), sig);
  _exit(128 + sig);  // a signal that does not terminate by default
}

}  // namespace vproc::shadow
