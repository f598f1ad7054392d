/* host_enter PID PROGRAM [ARG]...: runs PROGRAM inside the namespaces of
 * process PID (uts, net, pid, mount), for test/lib/cluster.sh's host_run and
 * host_spawn. Like `nsenter -t PID -u -n -p -m --wd=.` but:
 *   - it does not stop itself when PROGRAM stops (nsenter mirrors SIGSTOP and
 *     stays stopped until someone continues it, so a test's `wait` on it would
 *     hang after the program is continued from inside the host);
 *   - SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGALRM it gets
 *     are passed on to PROGRAM (so `kill $job` and `timeout` reach it), and
 *     PROGRAM gets SIGKILL if host_enter dies (PR_SET_PDEATHSIG).
 * Entering a pid namespace only places the children there, hence the fork.
 * Exit status: PROGRAM's; if PROGRAM is killed by a signal, host_enter kills
 * itself with the same signal (no core dump); 126/127 if it cannot be run,
 * 125 if the namespaces cannot be entered. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void pass_on(int sig) {
  if (child > 0) kill(child, sig);
}

static const int kPassed[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM};

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: host_enter PID PROGRAM [ARG]...\n");
    return 125;
  }
  /* Open all first: after the mount namespace changes, /proc is the host's. */
  static const struct {
    const char* name;
    int type;
  } kNs[] = {{"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS}};
  int fds[4];
  for (int i = 0; i < 4; ++i) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/ns/%s", argv[1], kNs[i].name);
    if ((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
      fprintf(stderr, "host_enter: %s: %s\n", path, strerror(errno));
      return 125;
    }
  }
  /* setns(mount) moves the cwd to the namespace's root: come back after. */
  int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (int i = 0; i < 4; ++i) {
    if (setns(fds[i], kNs[i].type) != 0) {
      fprintf(stderr, "host_enter: cannot enter the %s namespace of %s: %s\n", kNs[i].name, argv[1], strerror(errno));
      return 125;
    }
    close(fds[i]);
  }
  if (cwd < 0 || fchdir(cwd) != 0) (void)!chdir("/");
  if (cwd >= 0) close(cwd);

  sigset_t block, old;
  sigemptyset(&block);
  for (size_t i = 0; i < sizeof kPassed / sizeof kPassed[0]; ++i) sigaddset(&block, kPassed[i]);
  sigprocmask(SIG_BLOCK, &block, &old);
  child = fork();
  if (child < 0) {
    fprintf(stderr, "host_enter: fork: %s\n", strerror(errno));
    return 125;
  }
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Our parent is outside the pid namespace, so getppid() is 0 while it
     * lives; after its death it would be the namespace's pid 1. */
    if (getppid() != 0) _exit(125);
    sigprocmask(SIG_SETMASK, &old, NULL);
    execvp(argv[2], argv + 2);
    int e = errno;
    fprintf(stderr, "host_enter: cannot run %s: %s\n", argv[2], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = pass_on;
  sa.sa_flags = SA_RESTART;
  for (size_t i = 0; i < sizeof kPassed / sizeof kPassed[0]; ++i) sigaction(kPassed[i], &sa, NULL);
  sigprocmask(SIG_SETMASK, &old, NULL);

  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) {
      fprintf(stderr, "host_enter: waitpid: %s\n", strerror(errno));
      return 125;
    }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  int sig = WTERMSIG(status);
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  signal(sig, SIG_DFL);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  sigprocmask(SIG_UNBLOCK, &only, NULL);
  raise(sig);
  return 128 + sig;
}
