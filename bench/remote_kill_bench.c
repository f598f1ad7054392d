/* remote_kill_bench PID [ITERATIONS]: times kill(PID, 0), each call on its own
 * (CLOCK_MONOTONIC around it), and prints
 *   kill_median NS ns      the median call
 *   kill_p90 NS ns         the 90th percentile
 *   kill_mean NS ns        the whole loop's time / ITERATIONS
 * Under vproc with PID a vpid on another node, each call is a round trip
 * through the local daemon to the vpid's node (bench/cluster_bench.sh);
 * natively it is one system call. Default 2,000 iterations. Exits 1 (with the
 * errno) if a call fails: the target must exist all along. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>

#include "bench_clock.h"

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s PID [ITERATIONS]\n", argv[0]);
    return 2;
  }
  pid_t pid = (pid_t)parse_count(argv[0], argv[1], 0x7fffffffL);
  long n = argc == 3 ? parse_count(argv[0], argv[2], 10000000L) : 2000L;
  double *t = malloc(sizeof(double) * (size_t)n);
  if (!t) {
    fprintf(stderr, "%s: out of memory\n", argv[0]);
    return 1;
  }
  double start = now_ns();
  for (long i = 0; i < n; ++i) {
    double a = now_ns();
    if (kill(pid, 0) != 0) {
      fprintf(stderr, "%s: kill(%d, 0) failed at call %ld: %s\n", argv[0], (int)pid, i, strerror(errno));
      return 1;
    }
    t[i] = now_ns() - a;
  }
  double total = now_ns() - start;
  qsort(t, (size_t)n, sizeof(double), by_value);
  printf("kill_median %.0f ns\n", t[n / 2]);
  printf("kill_p90 %.0f ns\n", t[n * 9 / 10]);
  printf("kill_mean %.0f ns\n", total / (double)n);
  free(t);
  return 0;
}
