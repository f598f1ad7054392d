/* family: a three-level process tree that checks what every member sees.
 *
 * The root forks FANOUT children, each of which forks FANOUT grandchildren.
 * Every process prints its pid and its parent's pid; every child tells its
 * parent, through a pipe, what getpid() says, and the parent checks that this is
 * what fork() returned, that getppid() in the child is the parent's getpid(),
 * and that waitpid() reports each child by that same pid with the exit status it
 * chose. Natively these are real pids; under vproc-run they are virtual ones,
 * and the answers must agree just the same.
 *
 * Usage: family [FANOUT]   (1..8, default 2). Exit status 0 if every check held.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FANOUT 8

static int fanout = 2;

static void say(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int level, const char *fmt, ...) {
  char line[256];
  int n = snprintf(line, sizeof line, "%*s", level * 2, "");
  va_list ap;
  va_start(ap, fmt);
  n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  /* One write per line: lines of different processes never interleave. */
  if (write(STDOUT_FILENO, line, (size_t)n) < 0) _exit(3);
}

/* Runs the subtree rooted at this process; returns the number of failed checks. */
static int run(int level, int levels) {
  say(level, "level %d: pid %d, parent %d", level, (int)getpid(), (int)getppid());
  if (level + 1 == levels) return 0;

  pid_t self = getpid();
  pid_t kids[MAX_FANOUT];
  int failures = 0;
  for (int i = 0; i < fanout; ++i) {
    int fds[2];
    if (pipe(fds) != 0) {
      say(level, "pipe: %s", strerror(errno));
      return failures + 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
      say(level, "fork: %s", strerror(errno));
      return failures + 1;
    }
    if (pid == 0) {
      close(fds[0]);
      pid_t me = getpid();
      int bad = 0;
      if (write(fds[1], &me, sizeof me) != sizeof me) bad = 1;
      close(fds[1]);
      if (getppid() != self) {
        say(level + 1, "MISMATCH: getppid() = %d, but the parent's getpid() was %d", (int)getppid(), (int)self);
        bad = 1;
      }
      bad += run(level + 1, levels);
      /* Exit status: 10 + index, or 1 if anything below failed. */
      _exit(bad ? 1 : 10 + i);
    }
    close(fds[1]);
    pid_t reported = 0;
    if (read(fds[0], &reported, sizeof reported) != sizeof reported || reported != pid) {
      say(level, "MISMATCH: fork() returned %d, the child's getpid() says %d", (int)pid, (int)reported);
      ++failures;
    }
    close(fds[0]);
    kids[i] = pid;
  }

  for (int n = 0; n < fanout; ++n) {
    int status;
    pid_t got = waitpid(-1, &status, 0);
    if (got < 0) {
      say(level, "waitpid: %s", strerror(errno));
      return failures + 1;
    }
    int idx = -1;
    for (int i = 0; i < fanout; ++i)
      if (kids[i] == got) idx = i;
    if (idx < 0) {
      say(level, "MISMATCH: waitpid() returned %d, which is none of my children", (int)got);
      ++failures;
      continue;
    }
    kids[idx] = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 10 + idx) {
      say(level, "level %d: child %d exited with status %d", level, (int)got, WEXITSTATUS(status));
    } else {
      say(level, "FAILED: child %d ended with wait status 0x%x (expected exit %d)", (int)got, status, 10 + idx);
      ++failures;
    }
  }
  return failures;
}

int main(int argc, char **argv) {
  if (argc > 2) {
    fprintf(stderr, "usage: %s [FANOUT]\n", argv[0]);
    return 2;
  }
  if (argc == 2) {
    char *end;
    long v = strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || v < 1 || v > MAX_FANOUT) {
      fprintf(stderr, "%s: FANOUT must be a number from 1 to %d, not '%s'\n", argv[0], MAX_FANOUT, argv[1]);
      return 2;
    }
    fanout = (int)v;
  }
  int failures = run(0, 3);
  int members = 1 + fanout + fanout * fanout;
  if (failures == 0)
    say(0, "family: OK (%d processes agreed on every pid)", members);
  else
    say(0, "family: FAILED (%d check%s failed)", failures, failures == 1 ? "" : "s");
  return failures == 0 ? 0 : 1;
}
