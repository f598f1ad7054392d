/* pidfds: pidfd_open() of a child, pidfd_send_signal() through it, waitid(P_PIDFD)
 * reporting the child's pid, poll() readable once it has exited; pidfd_open of
 * an unknown pid fails with ESRCH. */
#include "scenario.h"

#include <poll.h>
#include <sys/pidfd.h>

static pid_t paused_child(void) {
  pid_t p = fork_checked();
  if (p == 0) {
    for (;;) pause();
  }
  return p;
}

int main(void) {
  SCENARIO_CKPT_POINT();
  pid_t c = paused_child();
  int fd = pidfd_open(c, 0);
  check(fd >= 0, "pidfd_open(child) succeeded");
  struct pollfd pfd = {fd, POLLIN, 0};
  check(poll(&pfd, 1, 0) == 0, "poll(pidfd): not readable while the child runs");
  check(pidfd_send_signal(fd, 0, NULL, 0) == 0, "pidfd_send_signal(pidfd, 0) == 0");
  check(pidfd_send_signal(fd, SIGTERM, NULL, 0) == 0, "pidfd_send_signal(pidfd, SIGTERM) == 0");
  check(poll(&pfd, 1, 10000) == 1 && (pfd.revents & POLLIN), "poll(pidfd): readable once the child died");
  siginfo_t si;
  memset(&si, 0, sizeof si);
  check(waitid(P_PIDFD, (id_t)fd, &si, WEXITED) == 0, "waitid(P_PIDFD) succeeded");
  check(pid_seen(si.si_pid) == c, "waitid(P_PIDFD): si_pid is the child's pid");
  check(si.si_code == CLD_KILLED && si.si_status == SIGTERM, "waitid(P_PIDFD): killed by SIGTERM");
  errno = 0;
  check(pidfd_send_signal(fd, 0, NULL, 0) == -1 && errno == ESRCH, "pidfd_send_signal after the reap: ESRCH");
  close(fd);

  /* A child that exits by itself, observed through its pidfd. */
  c = fork_checked();
  if (c == 0) {
    usleep(20000);
    _exit(6);
  }
  fd = pidfd_open(c, 0);
  check(fd >= 0, "pidfd_open(second child) succeeded");
  memset(&si, 0, sizeof si);
  check(waitid(P_PIDFD, (id_t)fd, &si, WEXITED) == 0 && pid_seen(si.si_pid) == c && si.si_code == CLD_EXITED &&
            si.si_status == 6,
        "waitid(P_PIDFD) on an exit: si_pid is the child, status 6");
  close(fd);
  SCENARIO_CKPT_POINT();

  fd = pidfd_open(getpid(), 0);
  check(fd >= 0, "pidfd_open(getpid()) succeeded");
  close(fd);
  errno = 0;
  check(pidfd_open(4194999, 0) == -1 && errno == ESRCH, "pidfd_open(unknown pid): ESRCH");
  return scenario_done();
}
