/* Shared helpers of the benchmark programs: a monotonic clock and argument
 * parsing with clear errors. */
#ifndef VPROC_BENCH_CLOCK_H
#define VPROC_BENCH_CLOCK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A count argument in [1, max]; exits with status 2 and a message otherwise. */
static inline long parse_count(const char *prog, const char *text, long max) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || errno || v < 1 || v > max) {
    fprintf(stderr, "%s: '%s' is not a count from 1 to %ld\n", prog, text, max);
    exit(2);
  }
  return v;
}

#endif
