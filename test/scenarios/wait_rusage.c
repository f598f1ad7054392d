/* wait3() and wait4(): the returned pid, the status and the resource usage of
 * the reaped child. */
#include "scenario.h"

#include <sys/time.h>
#include <time.h>

/* A child that uses some CPU time before exiting, so its rusage is not empty. */
static pid_t busy_child(int code) {
  pid_t p = fork_checked();
  if (p == 0) {
    struct timespec start, now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
    volatile unsigned long x = 0;
    do {
      for (int i = 0; i < 100000; i++) x += i;
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < 20000000L);
    _exit(code);
  }
  return p;
}

static int rusage_filled(const struct rusage* ru) {
  long cpu_us = ru->ru_utime.tv_sec * 1000000L + ru->ru_utime.tv_usec + ru->ru_stime.tv_sec * 1000000L +
                ru->ru_stime.tv_usec;
  return ru->ru_maxrss > 0 && cpu_us > 0;
}

int main(void) {
  struct rusage ru;
  int status;
  SCENARIO_CKPT_POINT();

  pid_t c = busy_child(3);
  memset(&ru, 0, sizeof ru);
  pid_t r = pid_seen(wait3(&status, 0, &ru));
  check(r == c, "wait3() returned the forked child");
  check(WIFEXITED(status) && WEXITSTATUS(status) == 3, "wait3(): exit status 3");
  check(rusage_filled(&ru), "wait3() filled the rusage (maxrss and cpu time > 0)");
  SCENARIO_CKPT_POINT();

  int go[2];
  must(pipe(go));
  c = fork_checked();
  if (c == 0) {
    close(go[1]);
    char ch;
    while (read(go[0], &ch, 1) < 0 && errno == EINTR) {
    }
    _exit(1);
  }
  close(go[0]);
  check(wait4(c, &status, WNOHANG, &ru) == 0, "wait4(child, WNOHANG) returns 0 while it runs");
  close(go[1]);
  memset(&ru, 0, sizeof ru);
  r = pid_seen(wait4(c, &status, 0, &ru));
  check(r == c, "wait4(child) returned that child");
  check(WIFEXITED(status) && WEXITSTATUS(status) == 1, "wait4(): exit status 1");
  check(ru.ru_maxrss > 0, "wait4() filled the rusage (maxrss > 0)");

  c = busy_child(255);
  memset(&ru, 0, sizeof ru);
  r = pid_seen(wait4(-1, &status, 0, &ru));
  check(r == c, "wait4(-1) returned the forked child");
  check(WIFEXITED(status) && WEXITSTATUS(status) == 255, "wait4(-1): exit status 255");
  check(rusage_filled(&ru), "wait4(-1) filled the rusage (maxrss and cpu time > 0)");

  c = fork_checked();
  if (c == 0) {
    for (;;) pause();
  }
  must(kill(c, SIGKILL));
  r = pid_seen(wait4(c, &status, 0, NULL));
  check(r == c && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
        "wait4() with a NULL rusage: killed by signal 9");

  errno = 0;
  check(wait3(&status, WNOHANG, &ru) == -1 && errno == ECHILD, "wait3() with no children: ECHILD");
  SCENARIO_CKPT_POINT();
  errno = 0;
  check(wait4(-1, &status, WNOHANG, &ru) == -1 && errno == ECHILD, "after the last point, wait4(-1): ECHILD");
  return scenario_done();
}
