/* A process created by clone(CLONE_VM | CLONE_VFORK | SIGCHLD) that execs, as
 * glibc's posix_spawn and some runtimes do by hand: it is a process (no
 * CLONE_THREAD), so clone()'s result, the new image's getpid() and waitpid()
 * must agree, as for fork. The child runs fn on its own stack, so a wrapper
 * can give it an identity before it execs. */
#include "scenario.h"

#include <limits.h>
#include <sched.h>
#include <sys/mman.h>

static int exec_in_shared_vm(void* arg) {
  char** args = arg;
  execv(args[0], args);
  return 127;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "exec-child") == 0) {
    send_pid(atoi(argv[3]), getpid());
    return pid_seen(getppid()) == (pid_t)atoi(argv[2]) ? 6 : 10;
  }
  char self_path[PATH_MAX];
  if (!realpath(argv[0], self_path)) fail("realpath(%s): %s", argv[0], strerror(errno));
  pid_t me = pid_seen(getpid());
  SCENARIO_CKPT_POINT();
  int report[2];
  must(pipe(report));
  char p[16], fd[16];
  snprintf(p, sizeof p, "%d", (int)me);
  snprintf(fd, sizeof fd, "%d", report[1]);
  char* args[] = {self_path, "exec-child", p, fd, NULL};

  size_t stack_size = 256 * 1024;
  char* stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  require(stack != MAP_FAILED, "mmap stack: %s", strerror(errno));
  fflush(stdout);
  pid_t c = clone(exec_in_shared_vm, stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, args);
  require(c > 0, "clone(CLONE_VM|CLONE_VFORK): %s", strerror(errno));
  pid_seen(c);
  check(recv_pid(report[0]) == c, "clone(CLONE_VM|CLONE_VFORK)+exec: the new image's getpid() equals clone()'s result");
  expect_exit(c, 6, "clone(CLONE_VM|CLONE_VFORK)+exec child (getppid() is us)");
  munmap(stack, stack_size);
  close(report[0]);
  close(report[1]);
  SCENARIO_CKPT_POINT();
  check(getpid() == me, "getpid() unchanged at the end");
  return scenario_done();
}
