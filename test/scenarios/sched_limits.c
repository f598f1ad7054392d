/* Calls that name another process by pid: setpriority/getpriority (process and
 * group), sched_{set,get}affinity, sched_{set,get}scheduler, sched_getparam,
 * sched_rr_get_interval, prlimit, process_vm_readv/writev. The parent changes
 * its child through its pid; the child confirms from inside. Unknown pids
 * give ESRCH. */
#include "scenario.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/uio.h>

static volatile long secret;
static int to_child[2], from_child[2];

/* The child's side: answers one query per command byte. */
static void serve(void) {
  secret = 0x5eed;
  for (;;) {
    char cmd;
    read_all(to_child[0], &cmd, 1);
    long answer = -1;
    cpu_set_t set;
    struct rlimit rl;
    switch (cmd) {
      case 'p':
        errno = 0;
        answer = getpriority(PRIO_PROCESS, 0);
        break;
      case 'a':
        answer = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
        break;
      case 's':
        answer = sched_getscheduler(0);
        break;
      case 'n':
        answer = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long)rl.rlim_cur : -1;
        break;
      case 'v':
        answer = secret;
        break;
      case 'q':
        _exit(0);
    }
    write_all(from_child[1], &answer, sizeof answer);
  }
}

static long ask(char cmd) {
  long answer;
  write_all(to_child[1], &cmd, 1);
  read_all(from_child[0], &answer, sizeof answer);
  return answer;
}

int main(void) {
  SCENARIO_CKPT_POINT();
  must(pipe(to_child));
  must(pipe(from_child));
  pid_t c = fork_checked();
  if (c == 0) {
    setpgid(0, 0);
    serve();
  }
  must(setpgid(c, c));
  ask('v'); /* the child is up and has set its secret */

  check(setpriority(PRIO_PROCESS, c, 7) == 0, "setpriority(PRIO_PROCESS, child, 7) succeeded");
  check(ask('p') == 7, "the child sees its nice value 7");
  errno = 0;
  check(getpriority(PRIO_PROCESS, c) == 7 && errno == 0, "getpriority(PRIO_PROCESS, child) == 7");
  errno = 0;
  check(getpriority(PRIO_PGRP, c) == 7 && errno == 0, "getpriority(PRIO_PGRP, child's group) == 7");
  check(setpriority(PRIO_PGRP, c, 9) == 0 && ask('p') == 9, "setpriority(PRIO_PGRP, child's group, 9) reached the child");

  cpu_set_t set;
  CPU_ZERO(&set);
  check(sched_getaffinity(c, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 1, "sched_getaffinity(child) succeeded");
  int first = -1;
  for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
    if (CPU_ISSET(i, &set)) first = i;
  CPU_ZERO(&set);
  CPU_SET(first, &set);
  check(sched_setaffinity(c, sizeof set, &set) == 0, "sched_setaffinity(child, one cpu) succeeded");
  check(ask('a') == 1, "the child sees an affinity of one cpu");

  check(sched_getscheduler(c) == SCHED_OTHER, "sched_getscheduler(child) == SCHED_OTHER");
  struct sched_param sp = {0};
  check(sched_setscheduler(c, SCHED_BATCH, &sp) == 0, "sched_setscheduler(child, SCHED_BATCH) succeeded");
  check(ask('s') == SCHED_BATCH && sched_getscheduler(c) == SCHED_BATCH, "the child runs SCHED_BATCH");
  check(sched_getparam(c, &sp) == 0 && sp.sched_priority == 0, "sched_getparam(child) succeeded");
  struct timespec ts;
  check(sched_rr_get_interval(c, &ts) == 0, "sched_rr_get_interval(child) succeeded");

  struct rlimit lim = {64, 64}, old;
  check(prlimit(c, RLIMIT_NOFILE, &lim, &old) == 0, "prlimit(child, RLIMIT_NOFILE, 64) succeeded");
  check(ask('n') == 64, "the child sees RLIMIT_NOFILE 64");
  check(prlimit(c, RLIMIT_NOFILE, NULL, &old) == 0 && old.rlim_cur == 64, "prlimit(child) reads it back");

  long value = 0;
  struct iovec local = {&value, sizeof value}, remote = {(void*)&secret, sizeof secret};
  check(process_vm_readv(c, &local, 1, &remote, 1, 0) == sizeof value && value == 0x5eed,
        "process_vm_readv(child) read the child's variable");
  value = 0xfeed;
  check(process_vm_writev(c, &local, 1, &remote, 1, 0) == sizeof value, "process_vm_writev(child) succeeded");
  check(ask('v') == 0xfeed, "the child sees the value written into it");

  pid_t none = 4194999;
  errno = 0;
  check(getpriority(PRIO_PROCESS, none) == -1 && errno == ESRCH, "getpriority(unknown pid): ESRCH");
  errno = 0;
  check(setpriority(PRIO_PROCESS, none, 1) == -1 && errno == ESRCH, "setpriority(unknown pid): ESRCH");
  errno = 0;
  check(sched_getaffinity(none, sizeof set, &set) == -1 && errno == ESRCH, "sched_getaffinity(unknown pid): ESRCH");
  errno = 0;
  check(sched_getscheduler(none) == -1 && errno == ESRCH, "sched_getscheduler(unknown pid): ESRCH");
  errno = 0;
  check(prlimit(none, RLIMIT_NOFILE, NULL, &old) == -1 && errno == ESRCH, "prlimit(unknown pid): ESRCH");
  errno = 0;
  check(process_vm_readv(none, &local, 1, &remote, 1, 0) == -1 && errno == ESRCH,
        "process_vm_readv(unknown pid): ESRCH");

  write_all(to_child[1], "q", 1);
  expect_exit(c, 0, "the queried child");
  close(to_child[0]);
  close(to_child[1]);
  close(from_child[0]);
  close(from_child[1]);
  SCENARIO_CKPT_POINT();
  return scenario_done();
}
