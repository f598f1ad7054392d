/* Identity across exec: the program re-executes itself through each member of
 * the exec family (execv, execvp, execl, fexecve, execle, and execve with an
 * EMPTY environment) and checks at every step that getpid() and getppid() are
 * those of the first image. A failed exec leaves the process unchanged.
 * Afterwards the final image forks and execs a child of its own.
 *
 * argv: exec_chain STEP ORIGINAL_PID ORIGINAL_PPID EXPECT_VIRTUAL
 * (the expectation travels in argv because one step clears the environment). */
#include "scenario.h"

#include <fcntl.h>
#include <limits.h>

extern char** environ;

static char self_path[PATH_MAX];

static const char* const kStepNames[] = {"end", "execve, empty environment", "execle", "fexecve",
                                         "execl", "execvp", "execv"};
enum { kFirstStep = 6 };

static int vproc_self_in_environ(void) {
  for (char** e = environ; e && *e; e++)
    if (strncmp(*e, "VPROC_SELF=", 11) == 0) return 1;
  return 0;
}

static void exec_step(int step, pid_t pid0, pid_t ppid0) {
  char s[16], p[16], pp[16], ev[4];
  snprintf(s, sizeof s, "%d", step);
  snprintf(p, sizeof p, "%d", (int)pid0);
  snprintf(pp, sizeof pp, "%d", (int)ppid0);
  snprintf(ev, sizeof ev, "%d", expect_virtual());
  char* args[] = {self_path, s, p, pp, ev, NULL};
  fflush(stdout);
  switch (step) {
    case 6:
      execv(self_path, args);
      break;
    case 5:
      execvp(self_path, args);
      break;
    case 4:
      execl(self_path, self_path, s, p, pp, ev, (char*)NULL);
      break;
    case 3: {
      int fd = open(self_path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) fail("open self: %s", strerror(errno));
      fexecve(fd, args, environ);
      break;
    }
    case 2: {
      char* env[] = {"SCENARIO_STEP_ENV=execle", NULL};
      execle(self_path, self_path, s, p, pp, ev, (char*)NULL, env);
      break;
    }
    case 1: {
      char* empty[] = {NULL};
      execve(self_path, args, empty);
      break;
    }
  }
  fail("exec step %d (%s): %s", step, kStepNames[step], strerror(errno));
}

/* After the chain: fork a child that execs this program as "child PARENT". */
static void fork_and_exec_child(pid_t me) {
  int report[2];
  must(pipe(report));
  pid_t c = fork_checked();
  if (c == 0) {
    char p[16], fd[16];
    snprintf(p, sizeof p, "%d", (int)me);
    snprintf(fd, sizeof fd, "%d", report[1]);
    char* args[] = {self_path, "child", p, fd, NULL};
    execv(self_path, args);
    _exit(127);
  }
  pid_t reported = recv_pid(report[0]);
  check(reported == c, "a child exec'd after fork keeps the pid fork() returned");
  expect_exit(c, 0, "the exec'd child saw us as its parent");
  close(report[0]);
  close(report[1]);
}

int main(int argc, char** argv) {
  if (!realpath(argv[0], self_path)) fail("realpath(%s): %s", argv[0], strerror(errno));
  if (argc == 4 && strcmp(argv[1], "child") == 0) {
    send_pid(atoi(argv[3]), pid_seen(getpid()));
    return pid_seen(getppid()) == (pid_t)atoi(argv[2]) ? 0 : 10;
  }
  if (argc == 1) {
    pid_t pid0 = pid_seen(getpid());
    pid_t ppid0 = getppid(); /* the runner, maybe outside vproc */
    printf("start\n");
    SCENARIO_CKPT_POINT();

    /* A failed exec must leave everything as it was. */
    char* args[] = {"/nonexistent/vproc-scenario", NULL};
    errno = 0;
    check(execv(args[0], args) == -1 && errno == ENOENT, "exec of a missing file: ENOENT");
    check(getpid() == pid0, "after a failed exec: same pid");
    check(!vproc_self_in_environ(), "after a failed exec: no VPROC_SELF left in our environment");
    exec_step(kFirstStep, pid0, ppid0);
  }
  if (argc != 5) fail("usage: exec_chain [child PARENT FD | STEP PID PPID EXPECT_VIRTUAL]");
  int step = atoi(argv[1]);
  pid_t pid0 = (pid_t)atoi(argv[2]), ppid0 = (pid_t)atoi(argv[3]);
  set_expect_virtual(atoi(argv[4]));
  if (step < 0 || step > kFirstStep) fail("bad step %d", step);
  const char* via = kStepNames[step];
  pid_t me = pid_seen(getpid());
  check(me == pid0, "after %s: same pid after exec", via);
  check(getppid() == ppid0, "after %s: same parent after exec", via);
  check(!vproc_self_in_environ(), "after %s: VPROC_SELF is not left in the environment", via);
  if (step == 2) check(getenv("PATH") == NULL, "after %s: the environment was replaced", via);
  /* (Steps 2 and 1 run without our environment, so no checkpoint there.) */
  if (step == 3) {
    SCENARIO_CKPT_POINT();
    check(getpid() == pid0 && getppid() == ppid0, "after %s: same pid and parent at the end of this image", via);
  }
  if (step > 1) exec_step(step - 1, pid0, ppid0);
  /* step 1: the image started with an empty environment. */
  fork_and_exec_child(me);
  return scenario_done();
}
