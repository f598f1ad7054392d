/* Job control of a child, as its parent sees it (migrate_jobctl.sh).
 *
 * mig_jobctl MARK: starts a session of its own (so nothing depends on the
 * caller's process groups), forks a child into a process group of its own (so
 * the terminal stop signals stop it: the group has a parent in another group
 * of the session, it is not orphaned), writes the child's pid to MARK and then
 * reports, one line each, every change waitpid(WUNTRACED | WCONTINUED) gives
 * together with the SIGCHLD that came with it (si_code, si_status, whether
 * si_pid is the child). The test stops and continues the child (natively: by
 * its pid; migrated: by vpid from another node, or the shadow's real pid) and
 * compares the lines with a native run's.
 *
 * The child keeps how many SIGCONTs it has caught in MARK.conts, so the test
 * can wait for the handler to have run before it stops the child again: the
 * kernel drops a pending SIGCONT when a stop signal comes, and a child not
 * scheduled in between would never catch it, natively too. It waits for
 * MARK.done, then prints that count (a forwarded SIGCONT must arrive once, not
 * once per relay) on stderr and exits 7. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int chld_pipe[2] = {-1, -1};
static volatile sig_atomic_t conts;

struct chld_note {
  int code, status;
  pid_t pid;
};

static void on_chld(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)uc;
  struct chld_note n = {si->si_code, si->si_status, si->si_pid};
  int saved = errno;
  (void)!write(chld_pipe[1], &n, sizeof n);
  errno = saved;
}

static void on_cont(int sig) {
  (void)sig;
  conts++;
}

static void die(const char* what) {
  printf("FAILED: %s (%s)\n", what, strerror(errno));
  exit(1);
}

static const char* sig_name(int sig) {
  switch (sig) {
    case SIGSTOP: return "SIGSTOP";
    case SIGTSTP: return "SIGTSTP";
    case SIGTTIN: return "SIGTTIN";
    case SIGTTOU: return "SIGTTOU";
    case SIGCONT: return "SIGCONT";
    default: return "other";
  }
}

static const char* code_name(int code) {
  switch (code) {
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    default: return "other";
  }
}

// Writes N to PATH whole (a new file renamed over the old: a reader never sees
// half of it), opened and closed each time, so nothing is held open across a
// migration.
static void publish_count(const char* path, int n) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE* f = fopen(tmp, "we");
  if (!f) return;
  fprintf(f, "%d\n", n);
  if (fclose(f) == 0) rename(tmp, path);
}

static int child_main(const char* done, const char* conts_path) {
  signal(SIGCONT, on_cont);
  pid_t parent = getppid();
  struct timespec tick = {0, 20 * 1000 * 1000};
  struct stat st;
  int published = -1;
  while (stat(done, &st) != 0) {
    if (getppid() != parent) return 3;  // a failed test left it behind
    if (conts != published) {
      published = conts;
      publish_count(conts_path, published);
    }
    nanosleep(&tick, NULL);
  }
  fprintf(stderr, "child: caught %d SIGCONT\n", (int)conts);
  return 7;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: mig_jobctl MARK\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  setsid();  // fails (harmlessly) only for a group leader
  char done[4096], conts_path[4096];
  snprintf(done, sizeof done, "%s.done", argv[1]);
  snprintf(conts_path, sizeof conts_path, "%s.conts", argv[1]);
  if (pipe2(chld_pipe, O_CLOEXEC) != 0) die("pipe");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_chld;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  if (sigaction(SIGCHLD, &sa, NULL) != 0) die("sigaction SIGCHLD");

  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    // Nothing of the parent's beyond stdio: a migration refuses pipes.
    close(chld_pipe[0]);
    close(chld_pipe[1]);
    setpgid(0, 0);
    return child_main(done, conts_path);
  }
  setpgid(child, child);  // whichever of the two runs first

  FILE* mark = fopen(argv[1], "we");
  if (!mark) die("open MARK");
  fprintf(mark, "%d\n", (int)child);
  fclose(mark);

  for (;;) {
    int st;
    pid_t r = waitpid(child, &st, WUNTRACED | WCONTINUED);
    if (r < 0 && errno == EINTR) continue;
    if (r != child) die("waitpid");
    char what[64];
    if (WIFSTOPPED(st)) {
      snprintf(what, sizeof what, "stopped by %s", sig_name(WSTOPSIG(st)));
    } else if (WIFCONTINUED(st)) {
      snprintf(what, sizeof what, "continued");
    } else if (WIFEXITED(st)) {
      snprintf(what, sizeof what, "exited %d", WEXITSTATUS(st));
    } else {
      snprintf(what, sizeof what, "killed by %d", WTERMSIG(st));
    }
    // Its SIGCHLD: sent before the waiter is woken, caught by now or soon.
    struct pollfd p = {chld_pipe[0], POLLIN, 0};
    struct chld_note n;
    if (poll(&p, 1, 5000) == 1 && read(chld_pipe[0], &n, sizeof n) == (ssize_t)sizeof n) {
      char status[16];
      snprintf(status, sizeof status, "%d", n.status);
      printf("wait: %s; SIGCHLD: %s %s from %s\n", what, code_name(n.code),
             n.code == CLD_EXITED ? status : sig_name(n.status), n.pid == child ? "the child" : "someone else");
    } else {
      printf("wait: %s; no SIGCHLD\n", what);
    }
    if (WIFEXITED(st) || WIFSIGNALED(st)) break;
  }
  // One SIGCHLD per change: nothing more may have come.
  struct pollfd p = {chld_pipe[0], POLLIN, 0};
  if (poll(&p, 1, 200) == 1) printf("an extra SIGCHLD came\n");
  return 0;
}
