/* fork_fan CYCLES LIVE [GO_FILE]: forks and reaps two children (libvproc makes
 * its spawn ring then), waits until GO_FILE exists (if given), forks and
 * reaps CYCLES children one at a time (each _exit()s with its cycle number mod
 * 200; every status is checked), then forks LIVE children that wait for a
 * signal. It prints "parent VPID", then "child VPID" for each live child (all
 * flushed before it waits), then "cycles OK|FAILED N", then for each live
 * child as it ends "ended VPID signal N" (or "ended VPID status N"), and exits
 * 0 if every check passed. Drives the spawn-ring test: a fork and a wait are
 * each a record in the ring, so CYCLES decides how many go through it. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: fork_fan CYCLES LIVE [GO_FILE]\n");
    return 2;
  }
  long cycles = atol(argv[1]), live = atol(argv[2]);
  for (int i = 0; i < 2; ++i) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid < 0 || waitpid(pid, NULL, 0) != pid) {
      fprintf(stderr, "fork_fan: the first forks failed: %s\n", strerror(errno));
      return 1;
    }
  }
  if (argc == 4) {
    struct timespec ms = {0, 1000000};
    while (access(argv[3], F_OK) != 0) nanosleep(&ms, NULL);
  }
  printf("parent %d\n", (int)getpid());
  fflush(stdout);
  long failed = 0;
  for (long i = 0; i < cycles; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      fprintf(stderr, "fork_fan: fork: %s\n", strerror(errno));
      return 1;
    }
    if (pid == 0) _exit((int)(i % 200));
    int status = 0;
    pid_t got;
    do got = waitpid(pid, &status, 0); while (got < 0 && errno == EINTR);
    if (got != pid || !WIFEXITED(status) || WEXITSTATUS(status) != (int)(i % 200)) {
      fprintf(stderr, "fork_fan: cycle %ld: waitpid(%d) = %d, status 0x%x\n", i, (int)pid, (int)got, status);
      ++failed;
    }
  }
  pid_t* kids = calloc((size_t)live + 1, sizeof *kids);
  for (long i = 0; i < live; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      fprintf(stderr, "fork_fan: fork: %s\n", strerror(errno));
      return 1;
    }
    if (pid == 0) {
      for (;;) pause();
    }
    kids[i] = pid;
    printf("child %d\n", (int)pid);
  }
  printf("cycles %s %ld\n", failed ? "FAILED" : "OK", cycles);
  fflush(stdout);
  for (long left = live; left > 0; --left) {
    int status = 0;
    pid_t got = wait(&status);
    if (got < 0) {
      fprintf(stderr, "fork_fan: wait: %s\n", strerror(errno));
      return 1;
    }
    int known = 0;
    for (long i = 0; i < live; ++i) known |= kids[i] == got;
    if (!known) ++failed;
    if (WIFSIGNALED(status))
      printf("ended %d signal %d\n", (int)got, WTERMSIG(status));
    else
      printf("ended %d status %d\n", (int)got, WEXITSTATUS(status));
    fflush(stdout);
  }
  free(kids);
  return failed ? 1 : 0;
}
