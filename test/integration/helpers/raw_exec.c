/* raw_exec PROGRAM [ARGS...]: execs PROGRAM (a path) with the execve system
 * call made directly, as Go programs and other runtimes without libc's exec
 * do: no wrapper sees it, so under vproc the new image gets no VPROC_SELF
 * (the library took it out of our environment at start) and must ask the
 * daemon who it is. The environment is passed on as it is. Exit 127 with a
 * message if the exec fails, 2 on bad arguments. */
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

extern char** environ;

static long raw_execve(const char* path, char* const argv[], char* const envp[]) {
  long ret;
#if defined(__x86_64__)
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "0"((long)SYS_execve), "D"(path), "S"(argv), "d"(envp)
                   : "rcx", "r11", "memory");
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = SYS_execve;
  register long x0 __asm__("x0") = (long)path;
  register long x1 __asm__("x1") = (long)argv;
  register long x2 __asm__("x2") = (long)envp;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  ret = x0;
#else
#error "raw_exec: no raw system call for this architecture"
#endif
  return ret;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: raw_exec PROGRAM [ARGS...]\n");
    return 2;
  }
  long r = raw_execve(argv[1], argv + 1, environ);
  fprintf(stderr, "raw_exec: %s: %s\n", argv[1], strerror((int)-r));
  return 127;
}
