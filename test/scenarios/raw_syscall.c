/* syscall() with pid-carrying numbers agrees with the libc wrappers:
 * SYS_getpid/gettid/getppid/getpgid/getsid, SYS_kill, SYS_tgkill, SYS_wait4,
 * SYS_waitid; in the top process and in a child. */
#include "scenario.h"

#include <sys/syscall.h>

static void check_identity(const char* who) {
  check(syscall(SYS_getpid) == pid_seen(getpid()), "%s: syscall(SYS_getpid) == getpid()", who);
  check(syscall(SYS_gettid) == pid_seen(gettid()), "%s: syscall(SYS_gettid) == gettid()", who);
  check(syscall(SYS_getppid) == getppid(), "%s: syscall(SYS_getppid) == getppid()", who);
  check(syscall(SYS_getpgid, 0) == getpgid(0), "%s: syscall(SYS_getpgid, 0) == getpgid(0)", who);
  check(syscall(SYS_getpgid, getpid()) == getpgid(0), "%s: syscall(SYS_getpgid, getpid()) == getpgid(0)", who);
  check(syscall(SYS_getsid, 0) == getsid(0), "%s: syscall(SYS_getsid, 0) == getsid(0)", who);
  check(syscall(SYS_tgkill, getpid(), gettid(), 0) == 0, "%s: syscall(SYS_tgkill, getpid(), gettid(), 0) == 0",
        who);
  check(syscall(SYS_kill, getpid(), 0) == 0, "%s: syscall(SYS_kill, getpid(), 0) == 0", who);
}

int main(void) {
  SCENARIO_CKPT_POINT();
  check_identity("parent");
  pid_t me = getpid();

  pid_t c = fork_checked();
  if (c == 0) {
    setpgid(0, 0);
    check_identity("child");
    if (pid_seen((pid_t)syscall(SYS_getppid)) != me) _exit(10);
    if (syscall(SYS_getpgid, 0) != getpid()) _exit(11);
    _exit(0);
  }
  int status = 0;
  long r = syscall(SYS_wait4, c, &status, 0, NULL);
  check(r == c, "syscall(SYS_wait4, child) returned the fork() result");
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's raw getppid/getpgid named the right pids");
  SCENARIO_CKPT_POINT();
  check_identity("parent after the first child");

  c = fork_checked();
  if (c == 0) {
    for (;;) pause();
  }
  check(syscall(SYS_kill, c, 0) == 0, "syscall(SYS_kill, child, 0) == 0");
  check(syscall(SYS_getpgid, c) == getpgid(0), "syscall(SYS_getpgid, child): the child is in our group");
  check(syscall(SYS_kill, c, SIGTERM) == 0, "syscall(SYS_kill, child, SIGTERM) == 0");
  siginfo_t si;
  memset(&si, 0, sizeof si);
  r = syscall(SYS_waitid, P_PID, c, &si, WEXITED, NULL);
  check(r == 0 && pid_seen(si.si_pid) == c && si.si_code == CLD_KILLED && si.si_status == SIGTERM,
        "syscall(SYS_waitid, P_PID, child): si_pid is the child, killed by SIGTERM");

  errno = 0;
  check(syscall(SYS_kill, 4194999, 0) == -1 && errno == ESRCH, "syscall(SYS_kill, unknown pid, 0): ESRCH");
  errno = 0;
  check(syscall(SYS_wait4, -1, NULL, WNOHANG, NULL) == -1 && errno == ECHILD,
        "syscall(SYS_wait4, -1) with no children: ECHILD");
  return scenario_done();
}
