/* Wrapped calls made by another library's constructor before main() (and
 * possibly before libvproc's own constructor): getpid(), fopen() and open() of
 * /proc/self files must work and agree with getpid() in main(). Programs like
 * ls, sed and setpriv do this through libselinux/libcap-ng.
 * The library is libs/early_calls.c. */
#include "scenario.h"

extern pid_t early_pid, early_status_pid, early_stat_pid;

int main(void) {
  pid_t me = pid_seen(getpid());
  SCENARIO_CKPT_POINT();
  check(pid_seen(early_pid) == me, "getpid() in a library constructor equals getpid() in main");
  check(pid_seen(early_status_pid) == me, "/proc/self/status read by fopen in a constructor: Pid: is getpid()");
  check(pid_seen(early_stat_pid) == me, "/proc/self/stat read by open in a constructor: pid is getpid()");
  SCENARIO_CKPT_POINT();
  check(pid_seen(getpid()) == me, "getpid() unchanged at the end");
  return scenario_done();
}
