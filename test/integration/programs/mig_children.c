/* A parent that migrates while it has two children, then waits for both
 * (migrate_children.sh). With an argument PATH it writes its pid to PATH and
 * waits for PATH.done (the test migrates it meanwhile); without, it runs
 * straight through (the native reference). Child 1 checks that getppid() is
 * still its parent, signals the parent (SIGUSR2) and exits 3 when told
 * (SIGUSR1); child 2 is killed by SIGTERM. The parent reports each SIGCHLD
 * (si_pid, si_code, si_status) and each wait status. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t chld_hits, usr2_hits;
static volatile pid_t chld_pid[4];
static volatile int chld_code[4], chld_status[4];

static void on_chld(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)uc;
  if (chld_hits < 4) {
    chld_pid[chld_hits] = si->si_pid;
    chld_code[chld_hits] = si->si_code;
    chld_status[chld_hits] = si->si_status;
  }
  chld_hits++;
}

static void on_usr2(int sig) {
  (void)sig;
  usr2_hits++;
}

static void die(const char* what) {
  printf("FAILED: %s (%s)\n", what, strerror(errno));
  exit(1);
}

static const char* code_name(int code) {
  return code == CLD_EXITED ? "CLD_EXITED" : code == CLD_KILLED ? "CLD_KILLED" : code == CLD_STOPPED ? "CLD_STOPPED" : "other";
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  struct sigaction sa = {0};
  sa.sa_sigaction = on_chld;
  sa.sa_flags = SA_SIGINFO;
  if (sigaction(SIGCHLD, &sa, NULL) != 0) die("sigaction SIGCHLD");
  signal(SIGUSR2, on_usr2);
  sigset_t blocked, open_mask;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGCHLD);
  sigaddset(&blocked, SIGUSR1);
  sigaddset(&blocked, SIGUSR2);
  sigprocmask(SIG_BLOCK, &blocked, &open_mask);
  sigdelset(&open_mask, SIGCHLD);
  sigdelset(&open_mask, SIGUSR2);

  pid_t parent = getpid();
  pid_t c1 = fork();
  if (c1 < 0) die("fork");
  if (c1 == 0) {
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    int sig = 0;
    while (sigwait(&usr1, &sig) != 0) {
    }
    if (getppid() != parent) _exit(99);
    if (kill(getppid(), SIGUSR2) != 0) _exit(98);
    _exit(3);
  }
  pid_t c2 = fork();
  if (c2 < 0) die("fork");
  if (c2 == 0) {
    sigprocmask(SIG_SETMASK, &open_mask, NULL);
    for (;;) pause();
  }
  printf("two children forked\n");

  if (argc > 1) {
    char tmp[600], done[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    snprintf(done, sizeof done, "%s.done", argv[1]);
    FILE* f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, argv[1]) != 0) die("marker");
    for (int i = 0; access(done, F_OK) != 0; i++) {
      if (i > 6000) die("nobody migrated the process");
      usleep(10000);
    }
  }
  printf("pid unchanged: %s\n", getpid() == parent ? "yes" : "no");

  if (kill(c1, SIGUSR1) != 0) die("kill child 1");
  while (chld_hits < 1 || usr2_hits < 1) sigsuspend(&open_mask);
  printf("SIGUSR2 from child 1: %d\n", (int)usr2_hits);
  printf("SIGCHLD 1: %s %s %d\n", chld_pid[0] == c1 ? "child 1" : "someone else", code_name(chld_code[0]),
         chld_status[0]);
  int status;
  pid_t r = waitpid(c1, &status, 0);
  printf("waitpid(child 1): %s, %s %d\n", r == c1 ? "child 1" : "wrong pid", WIFEXITED(status) ? "exit" : "not exited",
         WIFEXITED(status) ? WEXITSTATUS(status) : -1);

  if (kill(c2, SIGTERM) != 0) die("kill child 2");
  while (chld_hits < 2) sigsuspend(&open_mask);
  printf("SIGCHLD 2: %s %s %d\n", chld_pid[1] == c2 ? "child 2" : "someone else", code_name(chld_code[1]),
         chld_status[1]);
  r = waitpid(-1, &status, 0);
  printf("waitpid(-1): %s, %s %d\n", r == c2 ? "child 2" : "wrong pid", WIFSIGNALED(status) ? "signal" : "no signal",
         WIFSIGNALED(status) ? WTERMSIG(status) : -1);
  errno = 0;
  r = waitpid(-1, NULL, WNOHANG);
  printf("then: %s\n", r == -1 && errno == ECHILD ? "ECHILD" : "still a child");
  return 0;
}
