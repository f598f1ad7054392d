/* Process groups and sessions: getpgrp/getpgid/setpgid/setpgrp/getsid/setsid
 * seen from the process itself and from its parent; a group that outlives its
 * reaped leader; kill(-pgid); the error cases (EPERM, ESRCH). */
#include "scenario.h"

static int go_pipe[2];

static void wait_go(void) {
  close(go_pipe[1]);
  char c;
  while (read(go_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
}

static void test_own_group(void) {
  /* Our own group and session were made by whoever started us (the test
   * runner, maybe outside vproc), so they need not be virtual. */
  pid_t me = pid_seen(getpid());
  pid_t g = getpgrp();
  check(getpgid(0) == g && getpgid(me) == g, "getpgrp() == getpgid(0) == getpgid(getpid())");
  pid_t s = getsid(0);
  check(getsid(me) == s, "getsid(0) == getsid(getpid())");

  int report[2];
  must(pipe(report));
  pid_t c = fork_checked();
  if (c == 0) {
    pid_t self = getpid();
    if (getpgrp() != g) _exit(10);             /* inherited the parent's group */
    if (setpgid(0, 0) != 0) _exit(11);
    if (getpgrp() != self || getpgid(0) != self) _exit(12);
    if (setsid() != -1 || errno != EPERM) _exit(13); /* a group leader may not */
    send_pid(report[1], getpgrp());
    _exit(0);
  }
  pid_t reported = recv_pid(report[0]);
  check(reported == c, "after setpgid(0, 0) the child's getpgrp() is its own pid");
  expect_exit(c, 0, "child: inherited group, setpgid(0,0), setsid() as leader is EPERM");
  close(report[0]);
  close(report[1]);
}

static void test_parent_sets_group(void) {
  must(pipe(go_pipe));
  int report[2];
  must(pipe(report));
  pid_t c = fork_checked();
  if (c == 0) {
    wait_go();
    send_pid(report[1], getpgrp());
    pid_t self = getpid();
    send_pid(report[1], self);
    _exit(0);
  }
  close(go_pipe[0]);
  must(setpgid(c, c));
  check(pid_seen(getpgid(c)) == c, "setpgid(child, child) from the parent: getpgid(child) == child");
  close(go_pipe[1]);
  pid_t child_pgrp = recv_pid(report[0]);
  pid_t child_pid = recv_pid(report[0]);
  check(child_pgrp == child_pid && child_pid == c, "the child sees the group its parent made");
  expect_exit(c, 0, "child after parent's setpgid");
  close(report[0]);
  close(report[1]);
}

static void test_setsid(void) {
  int report[2];
  must(pipe(report));
  must(pipe(go_pipe));
  pid_t c = fork_checked();
  if (c == 0) {
    pid_t sid = setsid();
    if (sid == -1) _exit(10);
    send_pid(report[1], sid);
    send_pid(report[1], getsid(0));
    send_pid(report[1], getpgrp());
    send_pid(report[1], getpid());
    wait_go(); /* until the parent has looked at us */
    _exit(0);
  }
  close(go_pipe[0]);
  pid_t sid = recv_pid(report[0]), sid0 = recv_pid(report[0]), pgrp = recv_pid(report[0]),
        self = recv_pid(report[0]);
  check(sid == c && sid0 == c && pgrp == c && self == c,
        "setsid() in the child returns its pid; getsid(0) and getpgrp() agree");
  check(pid_seen(getsid(c)) == c, "the parent sees getsid(child) == child");
  check(pid_seen(getpgid(c)) == c, "the parent sees getpgid(child) == child");
  errno = 0;
  check(setpgid(c, getpgrp()) == -1 && errno == EPERM,
        "setpgid() moving a child of another session: EPERM");
  close(go_pipe[1]);
  expect_exit(c, 0, "session leader child");
  close(report[0]);
  close(report[1]);
}

static void test_group_outlives_leader(void) {
  must(pipe(go_pipe));
  pid_t leader = fork_checked();
  if (leader == 0) {
    setpgid(0, 0);
    _exit(0);
  }
  must(setpgid(leader, leader));
  pid_t member = fork_checked();
  if (member == 0) {
    setpgid(0, leader);
    wait_go();
    _exit(3);
  }
  must(setpgid(member, leader));
  close(go_pipe[0]);
  expect_exit(leader, 0, "the group leader exited and was reaped");
  check(pid_seen(getpgid(member)) == leader, "the member's group is still named after the reaped leader");
  check(killpg(leader, 0) == 0, "killpg(dead leader's pgid, 0): the group still exists");
  pid_t member2 = fork_checked();
  if (member2 == 0) {
    if (setpgid(0, leader) != 0) _exit(20);
    for (;;) pause();
  }
  int s;
  /* The child may not have run setpgid yet: join it from here as well. */
  must(setpgid(member2, leader));
  check(pid_seen(getpgid(member2)) == leader, "a new process joined the group of the reaped leader");
  must(kill(-leader, SIGTERM));
  s = wait_for(member);
  check(WIFSIGNALED(s) && WTERMSIG(s) == SIGTERM, "kill(-pgid) reached the first member");
  s = wait_for(member2);
  check(WIFSIGNALED(s) && WTERMSIG(s) == SIGTERM, "kill(-pgid) reached the second member");
  close(go_pipe[1]);
  errno = 0;
  check(kill(-leader, 0) == -1 && errno == ESRCH, "with every member gone, kill(-pgid, 0): ESRCH");
}

static void test_setpgrp(void) {
  pid_t c = fork_checked();
  if (c == 0) {
    if (setpgrp() != 0) _exit(10);
    _exit(getpgrp() == getpid() ? 0 : 11);
  }
  expect_exit(c, 0, "setpgrp() makes the child a group leader");
}

static void test_errors(void) {
  errno = 0;
  check(getpgid(4194999) == -1 && errno == ESRCH, "getpgid(unknown pid): ESRCH");
  errno = 0;
  check(getsid(4194999) == -1 && errno == ESRCH, "getsid(unknown pid): ESRCH");
  errno = 0;
  check(setpgid(4194999, 0) == -1 && errno == ESRCH, "setpgid(unknown pid): ESRCH");
  errno = 0;
  check(setpgid(0, 4194999) == -1 && errno == EPERM, "setpgid(0, unknown group): EPERM");
  errno = 0;
  check(setpgid(0, -1) == -1 && errno == EINVAL, "setpgid(0, -1): EINVAL");
}

int main(void) {
  SCENARIO_CKPT_POINT();
  test_own_group();
  test_parent_sets_group();
  test_setsid();
  SCENARIO_CKPT_POINT();
  test_group_outlives_leader();
  test_setpgrp();
  test_errors();
  SCENARIO_CKPT_POINT();
  test_own_group();
  return scenario_done();
}
