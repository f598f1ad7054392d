#include "monotonic.h"
#include "migration_stdin.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "pidfd.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

bool send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

}  // namespace

uint64_t socket_inode(int fd) {
  struct stat st;
  return fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? uint64_t(st.st_ino) : 0;
}

int take_stdin_socket(RealPid pid, uint64_t ino) {
  if (!ino) return -1;
  int pidfd = open_pidfd(pid, false);
  if (pidfd < 0) return -1;
  int fd = int(syscall(SYS_pidfd_getfd, pidfd, 0, 0u));  // the kernel sets O_CLOEXEC
  close(pidfd);
  if (fd >= 0 && socket_inode(fd) != ino) {
    close(fd);  // the program put something else on its fd 0
    fd = -1;
  }
  return fd;
}

StdinHandover::StdinHandover(struct ev_loop* loop) : task_(loop) {}

StdinHandover::~StdinHandover() {
  task_.join();
  if (old_stdin_ >= 0) close(old_stdin_);
}

void StdinHandover::start(int old_stdin, Open open, Done done) {
  old_stdin_ = old_stdin;
  struct Result {
    bool ok = false;
    uint64_t bytes = 0;
    std::string why;
  };
  auto r = std::make_shared<Result>();
  int src = old_stdin;
  task_.start(
      [src, open, r] {
        int dst = open(r->why);
        if (dst < 0) return;
        // Read to the end: the shadow has closed its end, or does so soon.
        // (Nothing is read before the commit: an aborted migration leaves the
        // process its input.)
        char buf[64 * 1024];
        int64_t end = monotonic_ms() + kDrainLimitMs;
        bool ok = true;
        while (src >= 0) {
          int64_t left = end - monotonic_ms();
          pollfd p{src, POLLIN, 0};
          int n = left > 0 ? poll(&p, 1, int(left)) : 0;
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) {
            r->why = "the old input stream did not end in time";
            ok = false;
            break;
          }
          ssize_t got = recv(src, buf, sizeof buf, MSG_DONTWAIT);
          if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
          if (got <= 0) break;  // its end (or reset: nothing more comes)
          if (!send_all(dst, buf, size_t(got))) {
            r->why = strf("sending it to the shadow: %s", strerror(errno));
            ok = false;
            break;
          }
          r->bytes += uint64_t(got);
        }
        close(dst);
        r->ok = ok;
      },
      [r, done] { done(r->ok, r->bytes, r->why); });
}

}  // namespace vproc::daemon
