/* The sender's pid in synchronously accepted signals: a child signals its
 * parent, which reads the signal from a signalfd (ssi_pid == the child's pid)
 * or takes it with sigwaitinfo()/sigtimedwait() (si_pid == the child's pid). */
#include "scenario.h"

#include <sys/signalfd.h>
#include <time.h>

/* A child that reports its getpid() and then sends `sig` to its parent
 * (with sigqueue when value != 0). */
static pid_t signalling_child(int sig, int value, int report_fd) {
  pid_t c = fork_checked();
  if (c == 0) {
    send_pid(report_fd, getpid());
    int r;
    if (value) {
      union sigval v = {.sival_int = value};
      r = sigqueue(getppid(), sig, v);
    } else {
      r = kill(getppid(), sig);
    }
    _exit(r == 0 ? 0 : 10);
  }
  return c;
}

int main(void) {
  int rt = SIGRTMIN + 1;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  sigaddset(&set, rt);
  must(sigprocmask(SIG_BLOCK, &set, NULL));
  SCENARIO_CKPT_POINT();
  int report[2];
  must(pipe(report));

  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  check(sfd >= 0, "signalfd created");

  pid_t c = signalling_child(SIGUSR1, 0, report[1]);
  check(recv_pid(report[0]) == c, "child 1's getpid() equals the fork() result");
  struct signalfd_siginfo ssi;
  ssize_t n;
  do {
    n = read(sfd, &ssi, sizeof ssi);
  } while (n < 0 && errno == EINTR);
  check(n == sizeof ssi && ssi.ssi_signo == SIGUSR1, "signalfd read: SIGUSR1");
  check(pid_seen((pid_t)ssi.ssi_pid) == c, "signalfd: ssi_pid is the child's pid");
  check(ssi.ssi_code == SI_USER && ssi.ssi_uid == getuid(), "signalfd: SI_USER from our uid");
  expect_exit(c, 0, "child 1 (kill)");

  c = signalling_child(rt, 77, report[1]);
  check(recv_pid(report[0]) == c, "child 2's getpid() equals the fork() result");
  do {
    n = read(sfd, &ssi, sizeof ssi);
  } while (n < 0 && errno == EINTR);
  check(n == sizeof ssi && (int)ssi.ssi_signo == rt && ssi.ssi_code == SI_QUEUE && ssi.ssi_int == 77,
        "signalfd read: the queued signal with value 77");
  check(pid_seen((pid_t)ssi.ssi_pid) == c, "signalfd (sigqueue): ssi_pid is the child's pid");
  expect_exit(c, 0, "child 2 (sigqueue)");

  /* Several signals read in one read(). */
  must(kill(getpid(), SIGUSR1));
  must(kill(getpid(), SIGUSR2));
  struct signalfd_siginfo two[2];
  do {
    n = read(sfd, two, sizeof two);
  } while (n < 0 && errno == EINTR);
  check(n == sizeof two, "one read() returned two signals");
  check(pid_seen((pid_t)two[0].ssi_pid) == getpid() && pid_seen((pid_t)two[1].ssi_pid) == getpid(),
        "both records carry our own pid");
  close(sfd);

  c = signalling_child(SIGUSR2, 0, report[1]);
  check(recv_pid(report[0]) == c, "child 3's getpid() equals the fork() result");
  siginfo_t si;
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, SIGUSR2);
  int s;
  do {
    s = sigwaitinfo(&only, &si);
  } while (s < 0 && errno == EINTR);
  check(s == SIGUSR2, "sigwaitinfo returned SIGUSR2");
  check(pid_seen(si.si_pid) == c, "sigwaitinfo: si_pid is the child's pid");
  expect_exit(c, 0, "child 3 (kill, sigwaitinfo)");

  c = signalling_child(rt, 5, report[1]);
  check(recv_pid(report[0]) == c, "child 4's getpid() equals the fork() result");
  sigemptyset(&only);
  sigaddset(&only, rt);
  struct timespec ts = {10, 0};
  do {
    s = sigtimedwait(&only, &si, &ts);
  } while (s < 0 && errno == EINTR);
  check(s == rt && si.si_value.sival_int == 5, "sigtimedwait returned the queued signal with value 5");
  check(pid_seen(si.si_pid) == c, "sigtimedwait: si_pid is the child's pid");
  expect_exit(c, 0, "child 4 (sigqueue, sigtimedwait)");

  struct timespec zero = {0, 0};
  errno = 0;
  check(sigtimedwait(&only, &si, &zero) == -1 && errno == EAGAIN, "sigtimedwait with nothing pending: EAGAIN");
  close(report[0]);
  close(report[1]);
  SCENARIO_CKPT_POINT();
  /* The signals are still blocked after the restore: one queued to ourselves waits. */
  must(kill(getpid(), SIGUSR1));
  sigemptyset(&only);
  sigaddset(&only, SIGUSR1);
  check(sigtimedwait(&only, &si, &ts) == SIGUSR1 && pid_seen(si.si_pid) == getpid(),
        "a blocked SIGUSR1 to ourselves is taken by sigtimedwait, si_pid is our pid");
  return scenario_done();
}
