#include "shadow_linger.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "shadow_children.h"
#include "shadow_signals.h"

namespace vproc::shadow {

void run_linger(uint32_t vpid, const char* socket_path) {
  // Its stdio is the guest's forwarded streams: the shadow waits for their
  // ends before it relays the next guest's output.
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3; ++fd) dup3(null, fd, 0);
  if (null > 2) close(null);
  // Every signal blocked (the old process group's ^C is not for it), SIGCHLD
  // read from a signalfd.
  uint64_t all = ~uint64_t{0}, chld = uint64_t{1} << (SIGCHLD - 1);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, sizeof all);
  int sfd = int(syscall(SYS_signalfd4, -1, &chld, sizeof chld, SFD_NONBLOCK | SFD_CLOEXEC));
  ShadowChildren children(vpid, socket_path);
  children.scan();
  children.set_ready(true);
  std::vector<pollfd> set;
  while (!children.empty()) {
    set.clear();
    set.push_back(pollfd{sfd, POLLIN, 0});
    children.prepare(set);
    // Without a daemon connection (it restarts): try again every second.
    int timeout = set.size() > 1 ? -1 : 1000;
    if (poll(set.data(), set.size(), timeout) < 0 && errno != EINTR) _exit(255);
    if (set[0].revents)
      while (next_signal(sfd).signo) {
      }
    children.on_sigchld();  // also after a timeout: retries the reports
    children.service(set);
    children.set_ready(true);
  }
  _exit(0);
}

}  // namespace vproc::shadow
