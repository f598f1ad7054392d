/* SIGCHLD delivered to an SA_SIGINFO handler: si_pid is the pid fork()
 * returned; si_code/si_status describe the exit, the death or the stop. */
#include "scenario.h"

static volatile sig_atomic_t hits;
static volatile pid_t last_pid;
static volatile int last_code, last_status;

static void on_chld(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)uc;
  last_pid = si->si_pid;
  last_code = si->si_code;
  last_status = si->si_status;
  hits++;
}

static sigset_t open_mask;

static void await_hits(int n) {
  while (hits < n) sigsuspend(&open_mask);
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_sigaction = on_chld;
  sa.sa_flags = SA_SIGINFO;
  must(sigaction(SIGCHLD, &sa, NULL));
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  must(sigprocmask(SIG_BLOCK, &chld, &open_mask));
  sigdelset(&open_mask, SIGCHLD);
  SCENARIO_CKPT_POINT();

  pid_t c = fork_checked();
  if (c == 0) _exit(7);
  await_hits(1);
  check(pid_seen(last_pid) == c, "SIGCHLD for an exit: si_pid equals the fork() result");
  check(last_code == CLD_EXITED && last_status == 7, "SIGCHLD for an exit: CLD_EXITED, status 7");
  expect_exit(c, 7, "the child is then reaped");
  SCENARIO_CKPT_POINT();

  c = fork_checked();
  if (c == 0) {
    for (;;) pause();
  }
  SCENARIO_MIGRATE_POINT(); /* the child stays behind; its SIGCHLDs follow the parent */
  must(kill(c, SIGSTOP));
  await_hits(2);
  check(pid_seen(last_pid) == c && last_code == CLD_STOPPED && last_status == SIGSTOP,
        "SIGCHLD for a stop: si_pid is the child, CLD_STOPPED");
  must(kill(c, SIGCONT));
  await_hits(3);
  check(pid_seen(last_pid) == c && last_code == CLD_CONTINUED, "SIGCHLD for a continue: CLD_CONTINUED");
  must(kill(c, SIGKILL));
  await_hits(4);
  check(pid_seen(last_pid) == c && last_code == CLD_KILLED && last_status == SIGKILL,
        "SIGCHLD for a SIGKILL death: si_pid is the child, CLD_KILLED");
  int status;
  pid_t r;
  /* The stop/continue states were consumed by nobody; WEXITED only sees the death. */
  do {
    r = waitpid(c, &status, 0);
  } while (r < 0 && errno == EINTR);
  check(r == c && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the killed child is reaped");
  SCENARIO_CKPT_POINT();
  return scenario_done();
}
