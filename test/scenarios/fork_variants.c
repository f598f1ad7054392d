/* The other ways to make a child: vfork() (then exec or _exit), _Fork(),
 * and clone() without CLONE_VM (clone_vm_process.c has the CLONE_VM case).
 * In each, the child's getpid()/getppid() agree with
 * what the parent got back, and waitpid() reaps it by that pid. (clone()
 * through glibc's wrapper, which libvproc sees; not the raw syscall.) */
#include "scenario.h"

#include <limits.h>
#include <sched.h>
#include <sys/mman.h>

static char self_path[PATH_MAX];

static int report_fd = -1;

static int clone_child(void* arg) {
  pid_t parent = *(pid_t*)arg;
  pid_t self = getpid();
  if (write(report_fd, &self, sizeof self) != sizeof self) return 20;
  return getppid() == parent ? 8 : 21;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "exec-child") == 0) {
    send_pid(atoi(argv[3]), getpid());
    return pid_seen(getppid()) == (pid_t)atoi(argv[2]) ? 6 : 10;
  }
  if (!realpath(argv[0], self_path)) fail("realpath(%s): %s", argv[0], strerror(errno));
  pid_t me = pid_seen(getpid());
  SCENARIO_CKPT_POINT();
  int report[2];
  must(pipe(report));
  report_fd = report[1];

  /* vfork + _exit: the child only reports (write is allowed) and exits. */
  fflush(stdout);
  pid_t c = vfork();
  if (c == 0) {
    pid_t self = getpid();
    if (write(report[1], &self, sizeof self) != sizeof self) _exit(20);
    _exit(getppid() == me ? 4 : 21);
  }
  require(c > 0, "vfork: %s", strerror(errno));
  pid_seen(c);
  check(recv_pid(report[0]) == c, "vfork: the child's getpid() equals vfork()'s result");
  expect_exit(c, 4, "vfork child (getppid() is us)");

  /* vfork + exec of this program. */
  char p[16], fd[16];
  snprintf(p, sizeof p, "%d", (int)me);
  snprintf(fd, sizeof fd, "%d", report[1]);
  char* args[] = {self_path, "exec-child", p, fd, NULL};
  fflush(stdout);
  c = vfork();
  if (c == 0) {
    execv(self_path, args);
    _exit(127);
  }
  require(c > 0, "vfork: %s", strerror(errno));
  pid_seen(c);
  check(recv_pid(report[0]) == c, "vfork+exec: the new image's getpid() equals vfork()'s result");
  expect_exit(c, 6, "vfork+exec child (getppid() is us)");

  /* _Fork: fork without running atfork handlers. */
  fflush(stdout);
  c = _Fork();
  if (c == 0) {
    pid_t self = getpid();
    if (write(report[1], &self, sizeof self) != sizeof self) _exit(20);
    _exit(getppid() == me ? 5 : 21);
  }
  require(c > 0, "_Fork: %s", strerror(errno));
  pid_seen(c);
  check(recv_pid(report[0]) == c, "_Fork: the child's getpid() equals _Fork()'s result");
  expect_exit(c, 5, "_Fork child (getppid() is us)");

  /* clone(SIGCHLD) with its own stack: a fork by another name. */
  size_t stack_size = 256 * 1024;
  char* stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  require(stack != MAP_FAILED, "mmap stack: %s", strerror(errno));
  fflush(stdout);
  c = clone(clone_child, stack + stack_size, SIGCHLD, &me);
  require(c > 0, "clone: %s", strerror(errno));
  pid_seen(c);
  check(recv_pid(report[0]) == c, "clone(SIGCHLD): the child's getpid() equals clone()'s result");
  expect_exit(c, 8, "clone(SIGCHLD) child (getppid() is us)");

  munmap(stack, stack_size);
  close(report[0]);
  close(report[1]);
  SCENARIO_CKPT_POINT();
  check(getpid() == me, "getpid() unchanged at the end");
  return scenario_done();
}
