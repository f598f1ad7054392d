/* File-descriptor owners: fcntl F_SETOWN/F_GETOWN with a pid and a process
 * group, F_SETOWN_EX/F_GETOWN_EX with a thread, a process and a group, and
 * SIGIO really delivered to the owner set by pid. */
#include "scenario.h"

#include <fcntl.h>
#include <sys/socket.h>

int main(void) {
  SCENARIO_CKPT_POINT();
  int sv[2];
  must(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  pid_t me = pid_seen(getpid());

  check(fcntl(sv[0], F_SETOWN, me) == 0, "F_SETOWN(getpid()) succeeded");
  check(pid_seen(fcntl(sv[0], F_GETOWN)) == me, "F_GETOWN == getpid()");

  struct f_owner_ex ex = {F_OWNER_TID, gettid()}, got;
  check(fcntl(sv[0], F_SETOWN_EX, &ex) == 0, "F_SETOWN_EX(F_OWNER_TID, gettid()) succeeded");
  memset(&got, 0, sizeof got);
  check(fcntl(sv[0], F_GETOWN_EX, &got) == 0 && got.type == F_OWNER_TID && pid_seen(got.pid) == gettid(),
        "F_GETOWN_EX: F_OWNER_TID, gettid()");

  /* A child in its own group: waits for SIGIO, which arrives when data does. */
  int ready[2];
  must(pipe(ready));
  sigset_t io;
  sigemptyset(&io);
  sigaddset(&io, SIGIO);
  must(sigprocmask(SIG_BLOCK, &io, NULL));
  pid_t c = fork_checked();
  if (c == 0) {
    setpgid(0, 0);
    write_all(ready[1], "r", 1);
    siginfo_t si;
    struct timespec ts = {20, 0};
    int s;
    do {
      s = sigtimedwait(&io, &si, &ts);
    } while (s < 0 && errno == EINTR);
    _exit(s == SIGIO ? 0 : 10);
  }
  must(setpgid(c, c));
  char byte;
  read_all(ready[0], &byte, 1);

  check(fcntl(sv[0], F_SETOWN, -c) == 0, "F_SETOWN(-child's pgid) succeeded");
  check(fcntl(sv[0], F_GETOWN) == -c, "F_GETOWN == -child's pgid");
  ex.type = F_OWNER_PGRP;
  ex.pid = c;
  check(fcntl(sv[0], F_SETOWN_EX, &ex) == 0, "F_SETOWN_EX(F_OWNER_PGRP, child's pgid) succeeded");
  check(fcntl(sv[0], F_GETOWN_EX, &got) == 0 && got.type == F_OWNER_PGRP && pid_seen(got.pid) == c,
        "F_GETOWN_EX: F_OWNER_PGRP, the child's pgid");
  ex.type = F_OWNER_PID;
  ex.pid = c;
  check(fcntl(sv[0], F_SETOWN_EX, &ex) == 0, "F_SETOWN_EX(F_OWNER_PID, child) succeeded");
  check(fcntl(sv[0], F_GETOWN_EX, &got) == 0 && got.type == F_OWNER_PID && pid_seen(got.pid) == c,
        "F_GETOWN_EX: F_OWNER_PID, the child");

  check(fcntl(sv[0], F_SETOWN, c) == 0 && pid_seen(fcntl(sv[0], F_GETOWN)) == c, "F_SETOWN(child), F_GETOWN == child");
  int fl = must(fcntl(sv[0], F_GETFL));
  must(fcntl(sv[0], F_SETFL, fl | O_ASYNC));
  write_all(sv[1], "x", 1);
  expect_exit(c, 0, "the owner child got SIGIO when data arrived");

  errno = 0;
  check(fcntl(sv[0], F_SETOWN, 4194999) == -1 && errno == ESRCH, "F_SETOWN(unknown pid): ESRCH");
  close(sv[0]);
  close(sv[1]);
  close(ready[0]);
  close(ready[1]);
  SCENARIO_CKPT_POINT();
  return scenario_done();
}
