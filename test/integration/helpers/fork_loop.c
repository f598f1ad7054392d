/* fork_loop STATE_FILE: forks children in a loop and reaps each one, checking
 * every time that waitpid() returns the fork() result with the child's exit
 * status and that getpid() never changes. After every iteration it rewrites
 * STATE_FILE with "ITERATION CHILD_VIRTUAL ERRORS" (CHILD_VIRTUAL: 1 when the
 * last child's pid was >= 2^22). SIGTERM ends the loop: exit 0 if no check ever
 * failed, else 1. Used to show that a program keeps working while its daemon
 * is killed and restarted. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

static void write_state(const char* path, long iter, int virt, long errors) {
  char tmp[4096], buf[128];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  int n = snprintf(buf, sizeof buf, "%ld %d %ld\n", iter, virt, errors);
  if (write(fd, buf, (size_t)n) != n) {
  }
  close(fd);
  rename(tmp, path);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fork_loop STATE_FILE\n");
    return 2;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  pid_t me = getpid();
  long errors = 0;
  long iter = 0;
  for (; !stop; iter++) {
    int code = (int)(iter % 200);
    pid_t c = fork();
    if (c < 0) {
      fprintf(stderr, "fork_loop: fork: %s\n", strerror(errno));
      errors++;
      sleep(1);
      continue;
    }
    if (c == 0) {
      if (getppid() != me) _exit(255);
      _exit(code);
    }
    int status;
    pid_t r;
    do {
      r = waitpid(c, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r != c) {
      fprintf(stderr, "fork_loop: iteration %ld: waitpid returned %d, fork returned %d (%s)\n", iter, (int)r,
              (int)c, r < 0 ? strerror(errno) : "mismatch");
      errors++;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != code) {
      fprintf(stderr, "fork_loop: iteration %ld: child status 0x%x, expected exit %d\n", iter, status, code);
      errors++;
    }
    if (getpid() != me) {
      fprintf(stderr, "fork_loop: iteration %ld: getpid() changed from %d to %d\n", iter, (int)me, (int)getpid());
      errors++;
    }
    write_state(argv[1], iter, c >= (1 << 22), errors);
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  write_state(argv[1], iter, 1, errors);
  fprintf(stderr, "fork_loop: %ld iterations, %ld errors\n", iter, errors);
  return errors ? 1 : 0;
}
