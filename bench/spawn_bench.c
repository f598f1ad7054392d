/* spawn_bench RUNS PROGRAM [ARGS...]: runs PROGRAM RUNS times, one after the
 * other (posix_spawn + waitpid, stdout to /dev/null), and prints the wall time
 * per run as "mean VALUE ms" and "median VALUE ms". Fails if any run does not
 * exit 0, so a broken setup cannot pass for a fast one. */
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#include "bench_clock.h"

extern char **environ;

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s RUNS PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }
  long runs = parse_count(argv[0], argv[1], 100000L);
  double *ms = malloc(sizeof(double) * (size_t)runs);
  if (!ms) return 1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);

  double sum = 0;
  for (long i = 0; i < runs; ++i) {
    double t0 = now_ns();
    pid_t pid;
    int err = posix_spawnp(&pid, argv[2], &fa, NULL, argv + 2, environ);
    if (err) {
      fprintf(stderr, "%s: cannot run %s: %s\n", argv[0], argv[2], strerror(err));
      return 1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) {
        fprintf(stderr, "%s: waitpid: %s\n", argv[0], strerror(errno));
        return 1;
      }
    }
    ms[i] = (now_ns() - t0) / 1e6;
    sum += ms[i];
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "%s: run %ld of %s ended with wait status 0x%x\n", argv[0], i + 1, argv[2], status);
      return 1;
    }
  }
  qsort(ms, (size_t)runs, sizeof *ms, compare);
  double median = runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
  printf("mean %.3f ms\nmedian %.3f ms\n", sum / (double)runs, median);
  free(ms);
  posix_spawn_file_actions_destroy(&fa);
  return 0;
}
