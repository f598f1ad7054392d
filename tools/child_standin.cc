#include "child_standin.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "shadow_link.h"
#include "shadow_signals.h"

namespace vproc::shadow {
namespace {

// What the helper tells the stand-in (one write, well under PIPE_BUF).
struct Command {
  uint8_t kind;  // wire::GuestChange: 1 exit, 2 stop
  int32_t status;
};

void sleep_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// The process's state letter in /proc/PID/stat ('T': stopped), 0 if gone.
char state_of(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = strrchr(buf, ')');  // the name may hold anything
  return p && p[1] == ' ' ? p[2] : 0;
}

// Waits (up to 2 s) until `pid` is stopped: a stop the stand-in was told of
// may not have happened yet, and a SIGCONT before it would be lost.
bool await_stopped(pid_t pid) {
  for (int i = 0; i < 2000; ++i) {
    char s = state_of(pid);
    if (s == 'T' || s == 't') return true;
    if (s == 0 || s == 'Z') return false;
    sleep_ms(1);
  }
  return false;
}

// One request, one reply, blocking. False if the connection broke.
bool ask(DaemonLink& link, const wire::Request& req, wire::Reply& reply) {
  if (!link.send(req)) return false;
  for (;;) {
    pollfd p{link.fd(), short(POLLIN | (link.wants_write() ? POLLOUT : 0)), 0};
    if (poll(&p, 1, -1) < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (link.wants_write() && !link.flush()) return false;
    std::vector<int> fds;
    DaemonLink::Got got = link.receive(reply, fds);
    for (int fd : fds) close(fd);
    if (got == DaemonLink::Got::Reply) return true;
    if (got == DaemonLink::Got::Closed) return false;
  }
}

// The helper: follows the child's states and passes them on.
[[noreturn]] void helper(uint32_t parent, uint32_t child, pid_t standin, int to_standin, const char* socket_path) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != standin) _exit(0);
  DaemonLink link;
  uint32_t seq = 0;
  bool stopped = false;  // the stand-in was told to stop and not continued since
  long backoff = 100;
  for (;;) {
    wire::Reply reply;
    if (!link.is_open() && link.open(socket_path) != 0) {
      sleep_ms(backoff);
      backoff = backoff < 1000 ? backoff * 2 : 1000;
      continue;
    }
    if (!ask(link, wire::ChildWait{parent, child, seq}, reply)) {
      link.close();
      continue;
    }
    const wire::ChildState* st = std::get_if<wire::ChildState>(&reply);
    if (!st) {  // an error (the parent's home unreachable, say): ask again
      sleep_ms(backoff);
      backoff = backoff < 1000 ? backoff * 2 : 1000;
      continue;
    }
    backoff = 100;
    if (st->seq <= seq) continue;  // unchanged
    seq = st->seq;
    switch (wire::GuestChange(st->kind)) {
      case wire::GuestChange::Stopped: {
        if (stopped) break;
        Command c{2, st->status};
        if (write(to_standin, &c, sizeof c) != ssize_t(sizeof c)) _exit(0);
        stopped = true;
        break;
      }
      case wire::GuestChange::Continued:
        if (stopped && await_stopped(standin)) kill(standin, SIGCONT);
        stopped = false;
        break;
      case wire::GuestChange::Exited: {
        // A stopped process dies only of SIGKILL without being continued.
        if (stopped && WIFSIGNALED(st->status) && WTERMSIG(st->status) == SIGKILL) {
          kill(standin, SIGKILL);
          _exit(0);
        }
        Command c{1, st->status};
        if (write(to_standin, &c, sizeof c) != ssize_t(sizeof c)) _exit(0);
        if (stopped && await_stopped(standin)) kill(standin, SIGCONT);
        _exit(0);
      }
      default:
        break;
    }
  }
}

}  // namespace

void run_child_standin(uint32_t parent, uint32_t child, uint32_t guest, const char* socket_path) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != pid_t(guest)) _exit(0);  // the guest is gone already
  // Nothing of the guest's: its stdio is relayed to its shadow, which waits
  // for the ends of those streams.
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3; ++fd) dup3(null, fd, 0);
  if (null > 2) close(null);
  // Signals for the guest's process group (kill(0, ...), a terminal's ^C)
  // reach the stand-in too, but they are not the child's.
  uint64_t all = ~uint64_t{0};
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, sizeof all);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) _exit(255);
  pid_t self = getpid();
  pid_t h = fork();
  if (h == 0) {
    close(p[0]);
    helper(parent, child, self, p[1], socket_path);
  }
  close(p[1]);
  for (;;) {
    Command c;
    ssize_t n = read(p[0], &c, sizeof c);
    if (n < 0 && errno == EINTR) continue;
    if (n != ssize_t(sizeof c)) sleep_ms(1000);  // the helper died: stay, as the child does
    if (n != ssize_t(sizeof c)) continue;
    if (c.kind == 1) exit_like(c.status);
    if (c.kind == 2) stop_with(c.status);
  }
}

}  // namespace vproc::shadow
