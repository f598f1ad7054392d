/* Job-control states through waitpid(): WUNTRACED reports a child stopped by
 * SIGSTOP (sent by the parent, and raised by the child itself), WCONTINUED
 * reports it continued by SIGCONT, and each state change is reported once. */
#include "scenario.h"

static pid_t sleeping_child(void) {
  pid_t p = fork_checked();
  if (p == 0) {
    for (;;) pause();
  }
  return p;
}

static int wait_flags(pid_t pid, int flags) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, flags);
  } while (r < 0 && errno == EINTR);
  if (r != pid) fail("waitpid(child, 0x%x) did not return the child", flags);
  return status;
}

int main(void) {
  char buf[64];
  SCENARIO_CKPT_POINT();
  pid_t c = sleeping_child();

  must(kill(c, SIGSTOP));
  int status = wait_flags(c, WUNTRACED);
  check(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP, "WUNTRACED after SIGSTOP: %s",
        describe_status(status, buf, sizeof buf));
  check(waitpid(c, &status, WUNTRACED | WNOHANG) == 0, "the stop is reported only once");

  must(kill(c, SIGCONT));
  status = wait_flags(c, WCONTINUED);
  check(WIFCONTINUED(status), "WCONTINUED after SIGCONT: %s", describe_status(status, buf, sizeof buf));
  check(waitpid(c, &status, WCONTINUED | WNOHANG) == 0, "the continue is reported only once");

  /* waitpid(-1) sees the same events. */
  must(kill(c, SIGSTOP));
  pid_t r = pid_seen(waitpid(-1, &status, WUNTRACED));
  check(r == c && WIFSTOPPED(status), "waitpid(-1, WUNTRACED) names the stopped child");
  must(kill(c, SIGCONT));
  r = pid_seen(waitpid(-1, &status, WCONTINUED));
  check(r == c && WIFCONTINUED(status), "waitpid(-1, WCONTINUED) names the continued child");

  must(kill(c, SIGTERM));
  status = wait_for(c);
  check(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "terminated child: %s",
        describe_status(status, buf, sizeof buf));

  SCENARIO_CKPT_POINT();
  /* A child that stops itself, continued by the parent, then exits normally. */
  pid_t self_stopper = fork_checked();
  if (self_stopper == 0) {
    raise(SIGSTOP);
    _exit(5);
  }
  status = wait_flags(self_stopper, WUNTRACED);
  check(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP, "child stopped itself: %s",
        describe_status(status, buf, sizeof buf));
  must(kill(self_stopper, SIGCONT));
  status = wait_flags(self_stopper, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 5, "after SIGCONT it exited: %s",
        describe_status(status, buf, sizeof buf));
  SCENARIO_CKPT_POINT();
  return scenario_done();
}
