#include "daemonize.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "strf.h"

namespace vproc::daemon {

namespace {

// Closes every descriptor >= 3 except those in `keep` (ascending, -1 ignored).
void close_inherited(int a, int b) {
  int keep[2] = {std::min(a, b), std::max(a, b)};
  unsigned from = 3;
  for (int k : keep) {
    if (k < int(from)) continue;
    if (unsigned(k) > from) close_range(from, unsigned(k) - 1, 0);
    from = unsigned(k) + 1;
  }
  close_range(from, ~0u, 0);
}

}  // namespace

Status Detach::fork_daemon(int keep_fd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Status::failure(errno, strf("pipe: %s", strerror(errno)));
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    return Status::failure(e, strf("fork: %s", strerror(e)));
  }
  if (pid > 0) {
    close(p[1]);
    char c = 0;
    ssize_t n;
    do n = read(p[0], &c, 1);
    while (n < 0 && errno == EINTR);
    if (n == 1 && c == 'R') _exit(0);
    // The daemon died before it was ready; it said why on stderr.
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) _exit(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) fprintf(stderr, "vprocd: the daemon was killed by signal %d while starting\n", WTERMSIG(status));
    else fprintf(stderr, "vprocd: the daemon exited while starting\n");
    _exit(1);
  }
  close(p[0]);
  ready_fd_ = p[1];
  close_inherited(keep_fd, ready_fd_);
  // A session of its own: no controlling terminal, no job-control signals.
  if (setsid() < 0) return Status::failure(errno, strf("setsid: %s", strerror(errno)));
  if (chdir("/") != 0) return Status::failure(errno, strf("chdir /: %s", strerror(errno)));
  return Status::success();
}

void Detach::report_ready(int log_fd) {
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    dup2(null_fd, 0);
    int out = log_fd >= 0 ? log_fd : null_fd;
    dup2(out, 1);
    dup2(out, 2);
    close(null_fd);
  }
  if (ready_fd_ >= 0) {
    char c = 'R';
    ssize_t ignored = write(ready_fd_, &c, 1);
    (void)ignored;  // the first process is gone: nobody to tell
    close(ready_fd_);
    ready_fd_ = -1;
  }
}

}  // namespace vproc::daemon
