/* wait() and the forms of waitpid(): a specific child, -1, 0 (own group),
 * -pgid, a WNOHANG polling loop; exit codes 0/1/3/255 and deaths by SIGTERM,
 * SIGKILL and SIGSEGV; ECHILD when there is nothing to wait for. In the
 * migrate mode the process also migrates while it has children that are not
 * reaped yet (SCENARIO_MIGRATE_POINT): they stay behind, and it waits for
 * them all the same. */
#include "scenario.h"

/* A child that exits with `code`; with a pipe `go`, only once the parent closes
 * its write end. */
static pid_t child_exiting(int code, const int* go) {
  pid_t p = fork_checked();
  if (p == 0) {
    if (go) {
      close(go[1]);
      char c;
      while (read(go[0], &c, 1) < 0 && errno == EINTR) {
      }
    }
    _exit(code);
  }
  return p;
}

static void test_wait(void) {
  pid_t c = child_exiting(3, NULL);
  int status;
  pid_t r = pid_seen(wait(&status));
  check(r == c, "wait() returned the forked child");
  check(WIFEXITED(status) && WEXITSTATUS(status) == 3, "wait(): exit status 3");
}

static void test_waitpid_specific(void) {
  static const int codes[] = {0, 1, 3, 255};
  enum { n = 4 };
  pid_t kids[n];
  for (int i = 0; i < n; i++) kids[i] = child_exiting(codes[i], NULL);
  SCENARIO_MIGRATE_POINT();
  /* Reap in reverse order: waitpid(pid) must pick that child and no other. */
  for (int i = n - 1; i >= 0; i--) {
    int status;
    pid_t r = pid_seen(waitpid(kids[i], &status, 0));
    check(r == kids[i], "waitpid(child %d) returned that child", i);
    check(WIFEXITED(status) && WEXITSTATUS(status) == codes[i], "waitpid(child %d): exit status %d",
          i, codes[i]);
  }
}

static void test_waitpid_any(void) {
  enum { n = 3 };
  pid_t kids[n];
  int seen[n] = {0};
  for (int i = 0; i < n; i++) kids[i] = child_exiting(20 + i, NULL);
  SCENARIO_MIGRATE_POINT();
  for (int k = 0; k < n; k++) {
    int status;
    pid_t r = pid_seen(waitpid(-1, &status, 0));
    int which = -1;
    for (int i = 0; i < n; i++)
      if (kids[i] == r) which = i;
    require(which >= 0, "waitpid(-1) returned one of the forked children");
    require(!seen[which], "waitpid(-1) returned a child only once");
    require(WIFEXITED(status) && WEXITSTATUS(status) == 20 + which,
            "waitpid(-1): the status belongs to the returned child");
    seen[which] = 1;
  }
  check(seen[0] && seen[1] && seen[2], "waitpid(-1) reaped each of 3 children once, statuses match");
  errno = 0;
  check(waitpid(-1, NULL, 0) == -1 && errno == ECHILD, "waitpid(-1) with no children: ECHILD");
}

static void test_waitpid_groups(void) {
  int go[2];
  must(pipe(go));
  pid_t same = child_exiting(4, NULL);
  /* Two children in a new group led by `leader`; set by parent and child alike
   * so it holds whichever runs first. */
  pid_t leader = fork_checked();
  if (leader == 0) {
    setpgid(0, 0);
    close(go[1]);
    char c;
    while (read(go[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(6);
  }
  must(setpgid(leader, leader));
  pid_t member = fork_checked();
  if (member == 0) {
    setpgid(0, leader);
    close(go[1]);
    char c;
    while (read(go[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(7);
  }
  must(setpgid(member, leader));
  close(go[0]);
  check(pid_seen(getpgid(leader)) == leader, "the new group is named after its leader");
  check(pid_seen(getpgid(member)) == leader, "the second child joined the leader's group");

  int status;
  pid_t r = pid_seen(waitpid(0, &status, 0));
  check(r == same, "waitpid(0) returned the child in our own group");
  check(WIFEXITED(status) && WEXITSTATUS(status) == 4, "waitpid(0): exit status 4");
  /* The kernel matches the selector first: no child left in our group is ECHILD,
   * even though children in another group are still running. */
  errno = 0;
  check(waitpid(0, &status, WNOHANG) == -1 && errno == ECHILD,
        "waitpid(0, WNOHANG): ECHILD, the remaining children are in another group");
  check(waitpid(-leader, &status, WNOHANG) == 0, "waitpid(-pgid, WNOHANG) returns 0 while they run");

  close(go[1]);  /* release both */
  int seen_leader = 0, seen_member = 0;
  for (int k = 0; k < 2; k++) {
    r = pid_seen(waitpid(-leader, &status, 0));
    if (r == leader && WIFEXITED(status) && WEXITSTATUS(status) == 6) seen_leader++;
    else if (r == member && WIFEXITED(status) && WEXITSTATUS(status) == 7) seen_member++;
    else fail("waitpid(-pgid) returned an unexpected child or status");
  }
  check(seen_leader == 1 && seen_member == 1, "waitpid(-pgid) reaped both group members with their statuses");
}

static void test_wnohang_loop(void) {
  int go[2];
  must(pipe(go));
  pid_t c = child_exiting(9, go);
  close(go[0]);
  int status;
  check(waitpid(c, &status, WNOHANG) == 0, "waitpid(WNOHANG) returns 0 while the child runs");
  close(go[1]);
  pid_t r = 0;
  for (int i = 0; i < 10000 && r == 0; i++) {
    r = waitpid(c, &status, WNOHANG);
    if (r == 0) usleep(1000);
  }
  check(pid_seen(r) == c, "a WNOHANG polling loop reaped the child");
  check(WIFEXITED(status) && WEXITSTATUS(status) == 9, "WNOHANG loop: exit status 9");
}

static void test_signal_deaths(void) {
  int go[2];
  must(pipe(go));
  pid_t term = child_exiting(0, go);
  pid_t killed = child_exiting(0, go);
  pid_t segv = fork_checked();
  if (segv == 0) {
    signal(SIGSEGV, SIG_DFL);
    *(volatile int*)0 = 1;
    _exit(0);
  }
  close(go[0]);
  must(kill(term, SIGTERM));
  must(kill(killed, SIGKILL));
  int status;
  char buf[64];
  status = wait_for(term);
  check(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "SIGTERM child: %s",
        describe_status(status, buf, sizeof buf));
  status = wait_for(killed);
  check(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "SIGKILL child: %s",
        describe_status(status, buf, sizeof buf));
  status = wait_for(segv);
  check(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "SIGSEGV child: %s",
        describe_status(status, buf, sizeof buf));
  close(go[1]);
}

static void test_no_child_errors(void) {
  errno = 0;
  check(wait(NULL) == -1 && errno == ECHILD, "wait() with no children: ECHILD");
  errno = 0;
  check(waitpid(4194999, NULL, 0) == -1 && errno == ECHILD,
        "waitpid() on a pid that is not our child: ECHILD");
  errno = 0;
  check(waitpid(getppid(), NULL, WNOHANG) == -1 && errno == ECHILD,
        "waitpid() on our parent: ECHILD");
}

int main(void) {
  SCENARIO_CKPT_POINT();
  test_wait();
  test_waitpid_specific();
  test_waitpid_any();
  SCENARIO_CKPT_POINT();
  test_waitpid_groups();
  test_wnohang_loop();
  test_signal_deaths();
  SCENARIO_CKPT_POINT();
  test_no_child_errors();
  return scenario_done();
}
