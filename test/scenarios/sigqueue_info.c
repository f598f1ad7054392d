/* Who sent a signal, as seen by an SA_SIGINFO handler: kill() and sigqueue()
 * from a child (si_pid == the child's getpid(), si_value carried), and
 * kill/sigqueue/tgkill/tkill aimed at ourselves (si_pid == getpid()). */
#include <sys/syscall.h>

#include "scenario.h"

/* What the handler saw, per signal number (two pending signals may be
 * delivered nested, in either order). */
struct seen {
  pid_t pid;
  uid_t uid;
  int code, value;
};
static volatile struct seen last[65];
static volatile sig_atomic_t hits;

static void on_info(int sig, siginfo_t* si, void* uc) {
  (void)uc;
  last[sig].pid = si->si_pid;
  last[sig].uid = si->si_uid;
  last[sig].code = si->si_code;
  last[sig].value = si->si_value.sival_int;
  hits++;
}

static sigset_t blocked, open_mask;

/* Waits (signals unblocked) until the handler has run `n` times in total. */
static void await_hits(int n) {
  while (hits < n) sigsuspend(&open_mask);
}

int main(void) {
  int rt = SIGRTMIN + 2;
  struct sigaction sa = {0};
  sa.sa_sigaction = on_info;
  sa.sa_flags = SA_SIGINFO;
  must(sigaction(SIGUSR1, &sa, NULL));
  must(sigaction(SIGUSR2, &sa, NULL));
  must(sigaction(rt, &sa, NULL));
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGUSR1);
  sigaddset(&blocked, SIGUSR2);
  sigaddset(&blocked, rt);
  must(sigprocmask(SIG_BLOCK, &blocked, &open_mask));
  sigdelset(&open_mask, SIGUSR1);
  sigdelset(&open_mask, SIGUSR2);
  sigdelset(&open_mask, rt);

  pid_t me = pid_seen(getpid());
  SCENARIO_CKPT_POINT();
  int report[2];
  must(pipe(report));

  /* A child sends kill(SIGUSR1) then sigqueue(rt, 4242) to its parent. */
  pid_t c = fork_checked();
  if (c == 0) {
    send_pid(report[1], getpid());
    if (kill(getppid(), SIGUSR1) != 0) _exit(10);
    union sigval v = {.sival_int = 4242};
    if (sigqueue(getppid(), rt, v) != 0) _exit(11);
    _exit(0);
  }
  pid_t reported = recv_pid(report[0]);
  check(reported == c, "the child's getpid() equals the fork() result");
  /* Taken while the sender still exists (running or a zombie): reaped below. */
  await_hits(2);
  check(pid_seen(last[SIGUSR1].pid) == c && last[SIGUSR1].code == SI_USER,
        "kill from the child: si_pid is the child's pid, SI_USER");
  check(pid_seen(last[rt].pid) == c, "sigqueue from the child: si_pid is the child's pid");
  check(last[rt].code == SI_QUEUE && last[rt].value == 4242, "sigqueue from the child: SI_QUEUE, si_value 4242");
  check(last[rt].uid == getuid(), "sigqueue from the child: si_uid is ours");
  expect_exit(c, 0, "child sender: kill and sigqueue to the parent succeeded");

  /* A signal whose sender is reaped before the handler runs: the kernel's
   * si_pid still names the sender, and so must ours. */
  c = fork_checked();
  if (c == 0) _exit(kill(getppid(), SIGUSR2) == 0 ? 0 : 10);
  expect_exit(c, 0, "third child: kill(getppid(), SIGUSR2) succeeded");
  usleep(200000); /* let vproc's bookkeeping of the reap settle */
  await_hits(3);
  check(pid_seen(last[SIGUSR2].pid) == c, "a signal from a child reaped before delivery: si_pid is the child's pid");

  /* Aimed at ourselves. */
  must(kill(getpid(), SIGUSR2));
  await_hits(4);
  check(pid_seen(last[SIGUSR2].pid) == me && last[SIGUSR2].code == SI_USER, "kill(getpid()): si_pid is our pid, SI_USER");

  union sigval v = {.sival_int = -7};
  must(sigqueue(getpid(), rt, v));
  await_hits(5);
  check(pid_seen(last[rt].pid) == me && last[rt].code == SI_QUEUE && last[rt].value == -7,
        "sigqueue(getpid()): si_pid is our pid, si_value -7");

  must(tgkill(getpid(), gettid(), SIGUSR1));
  await_hits(6);
  check(pid_seen(last[SIGUSR1].pid) == me && last[SIGUSR1].code == SI_TKILL, "tgkill(getpid(), gettid()): si_pid is our pid, SI_TKILL");

  must(syscall(SYS_tkill, gettid(), SIGUSR2));
  await_hits(7);
  check(pid_seen(last[SIGUSR2].pid) == me && last[SIGUSR2].code == SI_TKILL, "tkill(gettid()): si_pid is our pid, SI_TKILL");

  check(tgkill(getpid(), gettid(), 0) == 0, "tgkill(getpid(), gettid(), 0): 0");
  errno = 0;
  check(sigqueue(4194999, rt, v) == -1 && errno == ESRCH, "sigqueue to an unknown pid: ESRCH");
  close(report[0]);
  close(report[1]);
  SCENARIO_CKPT_POINT();
  /* The handler and the mask survive: one more signal to ourselves. */
  must(kill(getpid(), SIGUSR1));
  await_hits(8);
  check(pid_seen(last[SIGUSR1].pid) == me && last[SIGUSR1].code == SI_USER, "at the end, kill(getpid()): si_pid is our pid, SI_USER");
  return scenario_done();
}
