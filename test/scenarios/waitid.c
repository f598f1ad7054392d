/* waitid(): P_PID, P_ALL, P_PGID; the siginfo it fills (si_pid is the child's
 * pid, si_code/si_status tell how it ended); WNOWAIT leaves the child waitable
 * for the real reap; WNOHANG with nothing ready; WSTOPPED/WCONTINUED. */
#include "scenario.h"

static pid_t child_exiting(int code) {
  pid_t p = fork_checked();
  if (p == 0) _exit(code);
  return p;
}

static pid_t child_paused(void) {
  pid_t p = fork_checked();
  if (p == 0) {
    for (;;) pause();
  }
  return p;
}

static int waitid_retry(idtype_t type, id_t id, siginfo_t* si, int options) {
  int r;
  memset(si, 0, sizeof *si);
  do {
    r = waitid(type, id, si, options);
  } while (r < 0 && errno == EINTR);
  return r;
}

static void test_p_pid(void) {
  siginfo_t si;
  pid_t c = child_exiting(3);
  must(waitid_retry(P_PID, c, &si, WEXITED));
  check(pid_seen(si.si_pid) == c, "waitid(P_PID): si_pid is the child's pid");
  check(si.si_signo == SIGCHLD, "waitid(P_PID): si_signo is SIGCHLD");
  check(si.si_code == CLD_EXITED && si.si_status == 3, "waitid(P_PID): CLD_EXITED, status 3");
  check(si.si_uid == getuid(), "waitid(P_PID): si_uid is our uid");

  c = child_paused();
  must(kill(c, SIGTERM));
  must(waitid_retry(P_PID, c, &si, WEXITED));
  check(pid_seen(si.si_pid) == c && si.si_code == CLD_KILLED && si.si_status == SIGTERM,
        "waitid(P_PID) on a SIGTERM death: CLD_KILLED, status 15");

  c = fork_checked();
  if (c == 0) {
    signal(SIGSEGV, SIG_DFL);
    *(volatile int*)0 = 1;
    _exit(0);
  }
  must(waitid_retry(P_PID, c, &si, WEXITED));
  check(pid_seen(si.si_pid) == c && (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) &&
            si.si_status == SIGSEGV,
        "waitid(P_PID) on a SIGSEGV death: killed, status 11");
}

static void test_p_all(void) {
  siginfo_t si;
  pid_t a = child_exiting(0), b = child_exiting(255);
  int got_a = 0, got_b = 0;
  for (int k = 0; k < 2; k++) {
    must(waitid_retry(P_ALL, 0, &si, WEXITED));
    pid_t p = pid_seen(si.si_pid);
    if (p == a && si.si_status == 0) got_a++;
    else if (p == b && si.si_status == 255) got_b++;
    else fail("waitid(P_ALL) returned an unexpected child or status");
  }
  check(got_a == 1 && got_b == 1, "waitid(P_ALL) reaped both children; si_pid/si_status match");
  errno = 0;
  check(waitid_retry(P_ALL, 0, &si, WEXITED) == -1 && errno == ECHILD, "waitid(P_ALL) with no children: ECHILD");
}

static void test_p_pgid(void) {
  siginfo_t si;
  pid_t outsider = child_paused();
  pid_t leader = fork_checked();
  if (leader == 0) {
    setpgid(0, 0);
    _exit(12);
  }
  setpgid(leader, leader); /* may fail with EACCES/ESRCH if it already exited */
  must(waitid_retry(P_PGID, leader, &si, WEXITED | WNOWAIT));
  check(pid_seen(si.si_pid) == leader && si.si_status == 12,
        "waitid(P_PGID, its group): si_pid is the group's leader, status 12");
  must(waitid_retry(P_PGID, 0, &si, WEXITED | WNOHANG));
  check(si.si_pid == 0, "waitid(P_PGID, 0 = own group, WNOHANG): nothing ready (si_pid 0)");
  must(kill(outsider, SIGKILL));
  must(waitid_retry(P_PGID, 0, &si, WEXITED));
  check(pid_seen(si.si_pid) == outsider && si.si_code == CLD_KILLED, "waitid(P_PGID, 0) reaped the child in our group");
  must(waitid_retry(P_PID, leader, &si, WEXITED));
  check(pid_seen(si.si_pid) == leader, "the leader is then reaped by P_PID");
}

static void test_wnowait(void) {
  siginfo_t si;
  pid_t c = child_exiting(1);
  must(waitid_retry(P_PID, c, &si, WEXITED | WNOWAIT));
  check(pid_seen(si.si_pid) == c && si.si_status == 1, "WNOWAIT: si_pid is the child, status 1");
  must(waitid_retry(P_ALL, 0, &si, WEXITED | WNOWAIT));
  check(pid_seen(si.si_pid) == c, "WNOWAIT again (P_ALL): the child is still waitable");
  int status;
  pid_t r = pid_seen(waitpid(c, &status, 0));
  check(r == c && WIFEXITED(status) && WEXITSTATUS(status) == 1, "the real reap after WNOWAIT: exit status 1");
  errno = 0;
  check(waitid_retry(P_PID, c, &si, WEXITED | WNOHANG) == -1 && errno == ECHILD, "after the reap: ECHILD");
}

static void test_wnohang_and_job_control(void) {
  siginfo_t si;
  pid_t c = child_paused();
  must(waitid_retry(P_PID, c, &si, WEXITED | WNOHANG));
  check(si.si_pid == 0, "waitid(WNOHANG) on a running child: si_pid 0");
  must(kill(c, SIGSTOP));
  must(waitid_retry(P_PID, c, &si, WSTOPPED));
  check(pid_seen(si.si_pid) == c && si.si_code == CLD_STOPPED && si.si_status == SIGSTOP,
        "waitid(WSTOPPED): CLD_STOPPED by SIGSTOP");
  must(kill(c, SIGCONT));
  must(waitid_retry(P_ALL, 0, &si, WCONTINUED));
  check(pid_seen(si.si_pid) == c && si.si_code == CLD_CONTINUED, "waitid(P_ALL, WCONTINUED): CLD_CONTINUED");
  must(kill(c, SIGKILL));
  must(waitid_retry(P_PID, c, &si, WEXITED));
  check(pid_seen(si.si_pid) == c && si.si_code == CLD_KILLED && si.si_status == SIGKILL,
        "waitid(P_PID) after SIGKILL: CLD_KILLED, status 9");
}

static void test_errors(void) {
  siginfo_t si;
  errno = 0;
  check(waitid_retry(P_PID, 4194999, &si, WEXITED) == -1 && errno == ECHILD,
        "waitid(P_PID) on a pid that is not our child: ECHILD");
  errno = 0;
  check(waitid_retry(P_PID, 1, &si, 0) == -1 && errno == EINVAL, "waitid() with no event flags: EINVAL");
}

int main(void) {
  SCENARIO_CKPT_POINT();
  test_p_pid();
  test_p_all();
  SCENARIO_CKPT_POINT();
  test_p_pgid();
  test_wnowait();
  test_wnohang_and_job_control();
  SCENARIO_CKPT_POINT();
  test_errors();
  return scenario_done();
}
