/* Orphans: when a parent dies, its child's getppid() changes to the new
 * parent. With PR_SET_CHILD_SUBREAPER that parent is us: getppid() in the
 * orphan is then our pid and we reap it, although we never forked it. */
#include "scenario.h"

#include <sys/prctl.h>

int main(void) {
  SCENARIO_CKPT_POINT();
  must(prctl(PR_SET_CHILD_SUBREAPER, 1));
  pid_t me = pid_seen(getpid());
  int report[2], go[2], recorded[2];
  must(pipe(report));
  must(pipe(go));
  must(pipe(recorded));

  pid_t middle = fork_checked();
  if (middle == 0) {
    pid_t orphan = fork();
    if (orphan < 0) _exit(10);
    if (orphan == 0) {
      close(go[1]);
      pid_t first_parent = getppid();
      write_all(recorded[1], "r", 1); /* now the middle process may exit */
      char c;
      read_all(go[0], &c, 1); /* the middle process is gone by now */
      send_pid(report[1], first_parent);
      send_pid(report[1], getpid());
      send_pid(report[1], getppid());
      read_all(go[0], &c, 1);
      _exit(17);
    }
    send_pid(report[1], getpid());
    send_pid(report[1], orphan);
    char c;
    read_all(recorded[0], &c, 1);
    _exit(4);
  }
  close(go[0]);
  pid_t middle_self = recv_pid(report[0]);
  pid_t orphan = recv_pid(report[0]);
  check(middle_self == middle, "the middle child's getpid() equals the fork() result");
  expect_exit(middle, 4, "the middle child exited, orphaning its child");
  write_all(go[1], "1", 1);
  pid_t first_parent = recv_pid(report[0]);
  pid_t orphan_self = recv_pid(report[0]);
  pid_t new_parent = recv_pid(report[0]);
  check(first_parent == middle, "before: the orphan's getppid() was the middle child");
  check(orphan_self == orphan, "the orphan's getpid() is what its parent's fork() returned");
  check(new_parent == me, "after: the orphan's getppid() is us, the subreaper");
  check(kill(orphan, 0) == 0, "we can signal the adopted orphan");
  write_all(go[1], "2", 1);
  int status;
  pid_t r;
  do {
    r = waitpid(-1, &status, 0);
  } while (r < 0 && errno == EINTR);
  check(pid_seen(r) == orphan, "waitpid(-1) reaped the adopted orphan under its own pid");
  check(WIFEXITED(status) && WEXITSTATUS(status) == 17, "the adopted orphan's exit status 17");
  errno = 0;
  check(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "no children left");
  close(go[1]);
  close(report[0]);
  close(report[1]);
  close(recorded[0]);
  close(recorded[1]);
  SCENARIO_CKPT_POINT();
  check(getpid() == me, "getpid() unchanged at the end");
  return scenario_done();
}
