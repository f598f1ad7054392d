/* cluster_probe: signals across the nodes of a cluster, for cluster_loopback.sh.
 *   cluster_probe wait PIDFILE      writes getpid() to PIDFILE, waits for SIGUSR1
 *                                   (sigwaitinfo) and prints "got SIGUSR1 code=C value=V"
 *                                   (C: SI_QUEUE, SI_USER or a number)
 *   cluster_probe queue PID VALUE   sigqueue(PID, SIGUSR1, VALUE): "sigqueue: ok" or
 *                                   "sigqueue: ERRNO-NAME"
 *   cluster_probe bench PID N       N times kill(PID, 0): "N kills: T us each"
 * Exit 0 on success, 1 when a call failed, 2 on bad arguments. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errno_name.h"

static long number(const char* s) {
  char* end;
  long v = strtol(s, &end, 10);
  if (!*s || *end) {
    fprintf(stderr, "cluster_probe: '%s' is not a number\n", s);
    exit(2);
  }
  return v;
}

static int wait_mode(const char* pidfile) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL);
  FILE* f = fopen(pidfile, "w");
  if (!f) return perror(pidfile), 1;
  fprintf(f, "%d\n", (int)getpid());
  fclose(f);
  siginfo_t info;
  if (sigwaitinfo(&set, &info) < 0) return perror("sigwaitinfo"), 1;
  const char* code = info.si_code == SI_QUEUE ? "SI_QUEUE" : info.si_code == SI_USER ? "SI_USER" : NULL;
  if (code)
    printf("got SIGUSR1 code=%s value=%d\n", code, info.si_value.sival_int);
  else
    printf("got SIGUSR1 code=%d value=%d\n", info.si_code, info.si_value.sival_int);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "wait") == 0) return wait_mode(argv[2]);
  if (argc == 4 && strcmp(argv[1], "queue") == 0) {
    union sigval v;
    v.sival_ptr = NULL;
    v.sival_int = (int)number(argv[3]);
    if (sigqueue((pid_t)number(argv[2]), SIGUSR1, v) == 0) {
      printf("sigqueue: ok\n");
      return 0;
    }
    printf("sigqueue: %s\n", errno_name(errno));
    return 1;
  }
  if (argc == 4 && strcmp(argv[1], "bench") == 0) {
    pid_t pid = (pid_t)number(argv[2]);
    long n = number(argv[3]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; ++i) {
      if (kill(pid, 0) != 0) {
        printf("kill: %s\n", errno_name(errno));
        return 1;
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3;
    printf("%ld kills: %.0f us each\n", n, n ? us / n : 0.0);
    return 0;
  }
  fprintf(stderr, "usage: cluster_probe wait PIDFILE | queue PID VALUE | bench PID N\n");
  return 2;
}
