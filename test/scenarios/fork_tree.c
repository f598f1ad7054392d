/* A process tree three forks deep. Every process checks its identity against
 * what its parent saw (getpid() in the child == the parent's fork() result,
 * getppid() == the parent's getpid()), every parent reaps each of its children,
 * and exit statuses are combined on the way up so the root can verify the
 * whole tree. Siblings exist at the same time but run their subtrees one after
 * the other (released through a pipe), and a parent prints only while no
 * descendant runs, so the output order is fixed. In the migrate mode the root
 * migrates while its last child's subtree runs (SCENARIO_MIGRATE_POINT): the
 * tree stays behind, and the root still reaps that child with its status. */
#include "scenario.h"

enum { kDepth = 3, kFanout = 2 };

/* The exit code a process at `depth` with sibling index `index` must end with. */
static int expected_code(int depth, int index) {
  if (depth == kDepth) return 10 + index;
  int sum = 0;
  for (int i = 0; i < kFanout; i++) sum += expected_code(depth + 1, i);
  return (sum + index) % 256;
}

static int run_level(int depth, int index, const char* path) {
  pid_t me = pid_seen(getpid());
  if (depth == kDepth) {
    printf("%s: leaf exits with %d\n", path, expected_code(depth, index));
    return expected_code(depth, index);
  }
  pid_t kids[kFanout];
  int go[kFanout][2], report[kFanout][2];
  for (int i = 0; i < kFanout; i++) {
    must(pipe(go[i]));
    must(pipe(report[i]));
    kids[i] = fork_checked();
    if (kids[i] == 0) {
      char child_path[64];
      snprintf(child_path, sizeof child_path, "%s.%d", path, i);
      close(go[i][1]);
      close(report[i][0]);
      char token;
      read_all(go[i][0], &token, 1);
      pid_t self = pid_seen(getpid());
      send_pid(report[i][1], self);
      check(pid_seen(getppid()) == me, "%s: getppid() is the parent's getpid()", child_path);
      check(getpid() == self, "%s: getpid() is stable", child_path);
      exit(run_level(depth + 1, i, child_path));
    }
    close(go[i][0]);
    close(report[i][1]);
  }
  int sum = 0;
  for (int i = 0; i < kFanout; i++) {
    write_all(go[i][1], "g", 1);
    pid_t reported = recv_pid(report[i][0]);
    close(go[i][1]);
    close(report[i][0]);
    if (depth == 0 && i == kFanout - 1) SCENARIO_MIGRATE_POINT(); /* (no pipe left open) */
    int status = wait_for(kids[i]); /* print only once the child's subtree is done */
    check(reported == kids[i], "%s: child %d's getpid() equals the fork() result", path, i);
    char buf[64];
    check(WIFEXITED(status) && WEXITSTATUS(status) == expected_code(depth + 1, i),
          "%s: child %d reaped with %s", path, i, describe_status(status, buf, sizeof buf));
    sum += WEXITSTATUS(status);
  }
  check(getpid() == me, "%s: getpid() unchanged after forking", path);
  errno = 0;
  check(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "%s: no children left", path);
  return (sum + index) % 256;
}

int main(void) {
  SCENARIO_CKPT_POINT();
  int code = run_level(0, 0, "root");
  SCENARIO_CKPT_POINT();

  check(code == expected_code(0, 0), "root: statuses of the whole tree add up");
  return scenario_done();
}
