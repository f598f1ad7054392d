/* kill() between processes that are not parent and child: a sibling learns
 * another sibling's pid through a pipe and signals it; kill(pid, 0) probes a
 * live process, an unreaped zombie and a reaped one; killpg() and kill(-pgid)
 * reach every member of a group. */
#include "scenario.h"

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig) {
  (void)sig;
  got_usr1 = 1;
}

static pid_t paused_child(void) {
  pid_t p = fork_checked();
  if (p == 0) {
    for (;;) pause();
  }
  return p;
}

static void test_sibling_kill(void) {
  int ready[2], to_sender[2];
  must(pipe(ready));
  must(pipe(to_sender));

  /* The target: waits for SIGUSR1 and exits 42 when it arrives. */
  sigset_t usr1, old;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  must(sigprocmask(SIG_BLOCK, &usr1, &old));
  pid_t target = fork_checked();
  if (target == 0) {
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    must(sigaction(SIGUSR1, &sa, NULL));
    write_all(ready[1], "r", 1);
    while (!got_usr1) sigsuspend(&old);
    _exit(42);
  }
  must(sigprocmask(SIG_SETMASK, &old, NULL));
  char c;
  read_all(ready[0], &c, 1);

  /* The sender: gets the target's pid from the parent and signals it. */
  pid_t sender = fork_checked();
  if (sender == 0) {
    close(to_sender[1]);
    pid_t t = recv_pid(to_sender[0]);
    if (kill(t, 0) != 0) _exit(10);
    if (kill(t, SIGUSR1) != 0) _exit(11);
    _exit(0);
  }
  close(to_sender[0]);
  send_pid(to_sender[1], target);
  expect_exit(sender, 0, "sibling sender: kill(target, 0) and kill(target, SIGUSR1) succeeded");
  expect_exit(target, 42, "sibling target: got SIGUSR1 from its sibling");
  close(ready[0]);
  close(ready[1]);
  close(to_sender[1]);
}

static void test_kill_zero(void) {
  pid_t c = paused_child();
  check(kill(c, 0) == 0, "kill(pid, 0) on a live child: 0");
  must(kill(c, SIGKILL));
  siginfo_t si;
  memset(&si, 0, sizeof si);
  must(waitid(P_PID, c, &si, WEXITED | WNOWAIT)); /* now a zombie, not reaped */
  check(kill(c, 0) == 0, "kill(pid, 0) on an unreaped zombie: 0");
  wait_for(c);
  errno = 0;
  check(kill(c, 0) == -1 && errno == ESRCH, "kill(pid, 0) after the reap: ESRCH");
  errno = 0;
  check(kill(c, SIGTERM) == -1 && errno == ESRCH, "kill(pid, SIGTERM) after the reap: ESRCH");
  check(kill(getpid(), 0) == 0, "kill(getpid(), 0): 0");
}

static void test_groups(void) {
  /* Two children in a group led by the first; both must die from one signal. */
  for (int round = 0; round < 2; round++) {
    pid_t leader = paused_child();
    must(setpgid(leader, leader));
    pid_t member = fork_checked();
    if (member == 0) {
      for (;;) pause();
    }
    must(setpgid(member, leader));
    check(pid_seen(getpgid(member)) == leader, "round %d: both children are in one group", round);
    if (round == 0)
      must(killpg(leader, SIGTERM));
    else
      must(kill(-leader, SIGTERM));
    const char* how = round == 0 ? "killpg(pgid, SIGTERM)" : "kill(-pgid, SIGTERM)";
    int s1 = wait_for(leader), s2 = wait_for(member);
    check(WIFSIGNALED(s1) && WTERMSIG(s1) == SIGTERM && WIFSIGNALED(s2) && WTERMSIG(s2) == SIGTERM,
          "%s killed both group members", how);
    errno = 0;
    check(killpg(leader, 0) == -1 && errno == ESRCH, "after %s: the group is gone (ESRCH)", how);
  }
}

int main(void) {
  SCENARIO_CKPT_POINT();
  test_sibling_kill();
  SCENARIO_CKPT_POINT();
  test_kill_zero();
  test_groups();
  SCENARIO_CKPT_POINT();
  return scenario_done();
}
