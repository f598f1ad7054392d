/* fork_bench [ITERATIONS]: microseconds per fork() + _exit(0) in the child +
 * waitpid() in the parent, as one "fork_exit_wait VALUE us" line. Default 2000.
 * Every child's status is checked. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_clock.h"

int main(int argc, char **argv) {
  if (argc > 2) {
    fprintf(stderr, "usage: %s [ITERATIONS]\n", argv[0]);
    return 2;
  }
  long n = argc == 2 ? parse_count(argv[0], argv[1], 10000000L) : 2000L;
  double t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      fprintf(stderr, "%s: fork: %s\n", argv[0], strerror(errno));
      return 1;
    }
    if (pid == 0) _exit(0);
    int status;
    pid_t got;
    do got = waitpid(pid, &status, 0); while (got < 0 && errno == EINTR);
    if (got != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "%s: waitpid(%d) returned %d, status 0x%x\n", argv[0], (int)pid, (int)got, status);
      return 1;
    }
  }
  printf("fork_exit_wait %.2f us\n", (now_ns() - t0) / (double)n / 1e3);
  return 0;
}
