/* A process to migrate (migrate_handler.sh, restore_guest.sh).
 *
 *   mig_counter N [--fork] [--exec]
 *
 * prints "start pid P ppid Q", then "tick 1" .. "tick N", one every 50 ms (a
 * checkpoint comes in between), "usr1" whenever SIGUSR1 arrives, and at the
 * end "end pid P ppid Q" (what getpid/getppid say now: after a restore as a
 * guest they must say the same as at the start), "self-signal ok" (kill of
 * its own pid reached it), with --fork a child's "child pid C ppid P
 * parent-alive 1" and "waited child C status 0", with --exec what getpid and
 * getppid say after it execs itself ("exec pid P ppid Q"), and EXIT-SUCCESS. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr2;

static void on_usr1(int sig) {
  (void)sig;
  (void)!write(1, "usr1\n", 5);
}

static void on_usr2(int sig) {
  (void)sig;
  got_usr2 = 1;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "--after-exec") == 0) {
    printf("exec pid %d ppid %d\nEXIT-SUCCESS\n", (int)getpid(), (int)getppid());
    return 0;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: mig_counter N [--fork] [--exec]\n");
    return 2;
  }
  int n = atoi(argv[1]), do_fork = 0, do_exec = 0;
  for (int i = 2; i < argc; ++i) {
    do_fork |= strcmp(argv[i], "--fork") == 0;
    do_exec |= strcmp(argv[i], "--exec") == 0;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);

  printf("start pid %d ppid %d\n", (int)getpid(), (int)getppid());
  for (int i = 1; i <= n; ++i) {
    sleep_ms(50);
    printf("tick %d\n", i);
  }
  printf("end pid %d ppid %d\n", (int)getpid(), (int)getppid());
  kill(getpid(), SIGUSR2);
  printf("self-signal %s\n", got_usr2 ? "ok" : "lost");
  if (do_fork) {
    pid_t c = fork();
    if (c == 0) {
      printf("child pid %d ppid %d parent-alive %d\n", (int)getpid(), (int)getppid(), kill(getppid(), 0) == 0);
      exit(0);
    }
    int st = -1;
    pid_t w = waitpid(c, &st, 0);
    printf("waited child %d status %d\n", w == c ? (int)c : -1, st);
  }
  if (do_exec) {
    fflush(stdout);
    execl(argv[0], argv[0], "--after-exec", (char*)NULL);
    printf("exec failed: %s\n", strerror(errno));
    return 1;
  }
  printf("EXIT-SUCCESS\n");
  return 0;
}
