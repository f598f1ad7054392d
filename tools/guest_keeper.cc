#include "monotonic.h"
#include "guest_keeper.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "daemon_client.h"
#include "tool_error.h"

namespace vproc::tools {
namespace {

// The terminal's and job control's signals: they are meant for the guest (a
// kill of the keeper's process group, the one `vproc restore` started in), and
// the keeper must outlive it.
constexpr int kIgnored[] = {SIGHUP, SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE};

constexpr int kCallTimeoutMs = 5000;
// How long one report is retried while the daemon cannot be reached (it may
// be restarting), with backoff from 0.2 to 5 s between attempts.
constexpr int64_t kGiveUpMs = 60000;

// The keeper holds nothing of the restoring command's: no descriptors (the
// guest's stdio channels must see EOF when the guest closes them, and the
// daemon's report pipe when it execs), no working directory.
void shed_inheritance() {
  for (int sig : kIgnored) signal(sig, SIG_IGN);
  signal(SIGCHLD, SIG_DFL);  // ignoring it would make the kernel reap the guest
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  syscall(SYS_close_range, 0u, ~0u, 0u);
  int null = open("/dev/null", O_RDWR);  // fd 0; 1 and 2 beside it
  if (null == 0) {
    dup2(0, 1);
    dup2(0, 2);
  }
  (void)!chdir("/");
}

struct Change {
  wire::GuestChange kind = wire::GuestChange::Exited;
  int32_t status = 0;  // Exited: the wait status; Stopped: the stop signal; Continued: SIGCONT
  int exit_code = 0;   // Exited: what the keeper exits with
};

// The child's next change of state; false when there is none to wait for.
bool next_change(pid_t child, Change& out) {
  for (;;) {
    siginfo_t si{};
    if (waitid(P_PID, id_t(child), &si, WEXITED | WSTOPPED | WCONTINUED) != 0) {
      if (errno == EINTR) continue;
      return false;
    }
    switch (si.si_code) {
      case CLD_EXITED:
        out = {wire::GuestChange::Exited, (si.si_status & 0xff) << 8, si.si_status & 0xff};
        return true;
      case CLD_KILLED:
      case CLD_DUMPED:
        out = {wire::GuestChange::Exited, si.si_status | (si.si_code == CLD_DUMPED ? 0x80 : 0),
               128 + si.si_status};
        return true;
      case CLD_STOPPED:
        out = {wire::GuestChange::Stopped, si.si_status, 0};
        return true;
      case CLD_CONTINUED:
        out = {wire::GuestChange::Continued, si.si_status, 0};
        return true;
      default:
        continue;  // traced: not a change the parent sees
    }
  }
}

class Reporter {
 public:
  Reporter(std::string socket, uint32_t vpid) : socket_(std::move(socket)), vpid_(vpid) {}

  // Tells the daemon; an answer of any kind (even a refusal: it does not
  // know this guest) means it has heard.
  void report(const Change& c) {
    int64_t give_up = monotonic_ms() + kGiveUpMs;
    int pause_ms = 200;
    for (;;) {
      try {
        if (!connected_) {
          if (client_.connect(socket_, kCallTimeoutMs) != 0) throw DaemonError("unreachable");
          connected_ = true;
        }
        client_.call(wire::GuestStatus{vpid_, c.kind, c.status});
        return;
      } catch (const ToolError&) {
        client_.close();
        connected_ = false;
      }
      if (monotonic_ms() >= give_up) return;
      timespec ts{pause_ms / 1000, (pause_ms % 1000) * 1000000L};
      nanosleep(&ts, nullptr);
      pause_ms = std::min(pause_ms * 2, 5000);
    }
  }

 private:
  std::string socket_;
  uint32_t vpid_;
  DaemonClient client_;
  bool connected_ = false;
};

[[noreturn]] void keep(pid_t child, const std::string& socket_path, uint32_t vpid) {
  shed_inheritance();
  int code = 1;
  try {
    Reporter reporter(socket_path, vpid);
    Change c;
    while (next_change(child, c)) {
      reporter.report(c);
      if (c.kind == wire::GuestChange::Exited) {
        code = c.exit_code;
        break;
      }
    }
  } catch (...) {
  }
  _exit(code);
}

}  // namespace

void split_off_keeper(const std::string& socket_path, uint32_t vpid) {
  pid_t child = fork();
  if (child < 0) throw ToolError(1, std::string("cannot start the guest's keeper: fork: ") + strerror(errno));
  // The guest gets a process group of its own, whose parent (the keeper) is
  // in another group of the same session, so the group is not orphaned: in
  // the keeper's group, which has no parent in its session, the kernel would
  // discard the terminal stop signals (SIGTSTP, SIGTTIN, SIGTTOU) it gets. Both
  // say so: whichever runs first.
  if (child == 0) setpgid(0, 0);
  if (child > 0) {
    setpgid(child, child);
    keep(child, socket_path, vpid);
  }
}

}  // namespace vproc::tools
