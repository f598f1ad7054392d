/* A shared library whose constructor uses pids and /proc before main() runs,
 * as libselinux and libcap-ng do (fopen/open of /proc files). Loaded as a
 * dependency of early_ctor, so its constructor may run before libvproc's. */
#define _GNU_SOURCE 1
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

pid_t early_pid = -1;         /* getpid() in the constructor */
pid_t early_status_pid = -1;  /* Pid: of /proc/self/status read with fopen */
pid_t early_stat_pid = -1;    /* first field of /proc/self/stat read with open */

__attribute__((constructor)) static void early_calls(void) {
  early_pid = getpid();
  FILE* f = fopen("/proc/self/status", "r");
  if (f) {
    char line[256];
    while (fgets(line, sizeof line, f))
      if (strncmp(line, "Pid:", 4) == 0) early_status_pid = (pid_t)atol(line + 4);
    fclose(f);
  }
  int fd = open("/proc/self/stat", O_RDONLY);
  if (fd >= 0) {
    char buf[64] = {0};
    if (read(fd, buf, sizeof buf - 1) > 0) early_stat_pid = (pid_t)atol(buf);
    close(fd);
  }
}
