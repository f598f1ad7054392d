/* kill_probe PID SIGNAL: calls kill(PID, SIGNAL) once and prints the outcome as
 * "kill: ok" or "kill: <ERRNO NAME>" (ESRCH, EPERM, ...). Exit 0 on success,
 * 1 when kill failed, 2 on bad arguments. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errno_name.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: kill_probe PID SIGNAL_NUMBER\n");
    return 2;
  }
  char* end;
  long pid = strtol(argv[1], &end, 10);
  if (*argv[1] == 0 || *end != 0) {
    fprintf(stderr, "kill_probe: '%s' is not a pid\n", argv[1]);
    return 2;
  }
  long sig = strtol(argv[2], &end, 10);
  if (*argv[2] == 0 || *end != 0 || sig < 0 || sig > 64) {
    fprintf(stderr, "kill_probe: '%s' is not a signal number\n", argv[2]);
    return 2;
  }
  if (kill((pid_t)pid, (int)sig) == 0) {
    printf("kill: ok\n");
    return 0;
  }
  printf("kill: %s\n", errno_name(errno));
  return 1;
}
