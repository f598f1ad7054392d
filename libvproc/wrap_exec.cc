// The exec family: the new image gets our library, the daemon's socket and its
// identity (VPROC_SELF) in its environment, so it needs no daemon to know who
// it is.
#include <stdarg.h>
#include <unistd.h>

#include "ckpt_handler.h"
#include "exec_env.h"
#include "libc_boundary.h"
#include "daemon_link.h"
#include "real_fn.h"
#include "state.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(execve);
VPROC_REAL(execvpe);
VPROC_REAL(fexecve);
VPROC_REAL(execveat);

namespace {

// Runs call(new_envp), which returns only if the exec failed; the mapping is
// released with errno intact.
template <typename Call>
int exec_with_env(char* const* envp, Call call) {
  SelfEnv self;
  ExecEnv env;
  if (int r = exec_env_build(envp, exec_self(self), env)) return fail_errno(r);
  link_flush();  // the new image will not know what this one deferred
  int rc = call(env.envp);
  exec_env_release(env);
  return rc;
}

int do_execve(const char* path, char* const argv[], char* const envp[]) {
  if (!active()) return real_execve(path, argv, envp);
  // A program re-executing itself through /proc/self/exe after a restore.
  if (const char* exe = restored_exe_for(path)) path = exe;
  return exec_with_env(envp, [&](char* const* e) { return real_execve(path, argv, e); });
}

// PATH search (and the /bin/sh fallback for scripts without #!) is glibc's.
int do_execvpe(const char* file, char* const argv[], char* const envp[]) {
  if (!active()) return real_execvpe(file, argv, envp);
  return exec_with_env(envp, [&](char* const* e) { return real_execvpe(file, argv, e); });
}

// execl-style arguments: arg0, ..., NULL [, envp]. Collected into a mapping:
// there is no bound on their number and no malloc here.
int collect_args(const char* arg0, va_list ap, ArgVec& out, char* const** envp_after) {
  size_t n = 1;
  va_list count;
  va_copy(count, ap);
  while (va_arg(count, const char*)) ++n;
  va_end(count);
  if (int r = argvec_alloc(n, out)) return r;
  out.argv[0] = const_cast<char*>(arg0);
  for (size_t i = 1; i < n; ++i) out.argv[i] = va_arg(ap, char*);
  out.argv[n] = nullptr;
  va_arg(ap, char*);  // the terminating NULL
  if (envp_after) *envp_after = va_arg(ap, char* const*);
  return 0;
}

}  // namespace

VPROC_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) noexcept {
  return do_execve(path, argv, envp);
}

VPROC_EXPORT int execv(const char* path, char* const argv[]) noexcept {
  return do_execve(path, argv, environ);
}

VPROC_EXPORT int execvp(const char* file, char* const argv[]) noexcept {
  return do_execvpe(file, argv, environ);
}

VPROC_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) noexcept {
  return do_execvpe(file, argv, envp);
}

VPROC_EXPORT int execl(const char* path, const char* arg0, ...) noexcept {
  va_list ap;
  va_start(ap, arg0);
  ArgVec args;
  int r = collect_args(arg0, ap, args, nullptr);
  va_end(ap);
  if (r) return fail_errno(r);
  int rc = do_execve(path, args.argv, environ);
  argvec_release(args);
  return rc;
}

VPROC_EXPORT int execlp(const char* file, const char* arg0, ...) noexcept {
  va_list ap;
  va_start(ap, arg0);
  ArgVec args;
  int r = collect_args(arg0, ap, args, nullptr);
  va_end(ap);
  if (r) return fail_errno(r);
  int rc = do_execvpe(file, args.argv, environ);
  argvec_release(args);
  return rc;
}

VPROC_EXPORT int execle(const char* path, const char* arg0, ...) noexcept {
  va_list ap;
  va_start(ap, arg0);
  ArgVec args;
  char* const* envp = nullptr;
  int r = collect_args(arg0, ap, args, &envp);
  va_end(ap);
  if (r) return fail_errno(r);
  int rc = do_execve(path, args.argv, envp);
  argvec_release(args);
  return rc;
}

VPROC_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) noexcept {
  if (!active()) return real_fexecve(fd, argv, envp);
  return exec_with_env(envp, [&](char* const* e) { return real_fexecve(fd, argv, e); });
}

VPROC_EXPORT int execveat(int dirfd, const char* path, char* const argv[], char* const envp[],
                          int flags) noexcept {
  if (!active()) return real_execveat(dirfd, path, argv, envp, flags);
  if (const char* exe = restored_exe_for(path)) path = exe;
  return exec_with_env(envp, [&](char* const* e) { return real_execveat(dirfd, path, argv, e, flags); });
}
