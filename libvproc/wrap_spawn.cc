// posix_spawn and posix_spawnp. glibc's implementation creates the child with
// clone(CLONE_VM|CLONE_VFORK) and execs through internal calls, so none of our
// fork/exec wrappers sees it: the identity is arranged here, around it.
#include "spawn_child.h"

#include <errno.h>
#include <signal.h>

#include "daemon_link.h"
#include "diag.h"
#include "exec_env.h"
#include "fork_identity.h"
#include "lease.h"
#include "libc_boundary.h"
#include "pid_types.h"
#include "real_fn.h"
#include "state.h"
#include "translate.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(posix_spawn);
VPROC_REAL(posix_spawnp);

namespace vproc::lib {

int spawn_child(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                const posix_spawnattr_t* attr, char* const argv[], char* const envp[],
                bool search_path) {
  ProcessState& st = state();

  // Our copy of the attributes (plain data in glibc: flags, group, signal sets,
  // scheduling), adjusted below.
  posix_spawnattr_t ours;
  if (attr)
    ours = *attr;
  else
    posix_spawnattr_init(&ours);
  short flags = 0;
  posix_spawnattr_getflags(&ours, &flags);

  // POSIX_SPAWN_SETPGROUP with a group the program knows by its vpid: the child
  // calls setpgid inside glibc, so the attribute must carry the real number.
  if (flags & POSIX_SPAWN_SETPGROUP) {
    pid_t group = 0;
    posix_spawnattr_getpgroup(&ours, &group);
    if (is_virtual_number(group)) {
      long real = to_real_pgid(group);
      if (real < 0) return EPERM;  // what setpgid says for a group that does not exist
      posix_spawnattr_setpgroup(&ours, pid_t(real));
    }
  }

  VPid v = take_vpid();
  SelfEnv self{v.value, 0, st.self.value, st.self_real.value};
  ExecEnv env;
  // Without a vpid (degraded) the child gets vpid 0: see exec_self().
  if (int r = exec_env_build(envp, &self, env)) {
    fork_parent_done(v, -1);  // returns the vpid to the lease
    return -r;
  }

  // Signals are held until the child is recorded (fork_identity.h); the child
  // itself must start with the program's mask, not ours.
  SignalsHeld held;
  held.hold();
  if (!(flags & POSIX_SPAWN_SETSIGMASK)) {
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig = 1; sig <= 64; ++sig)
      if (held.saved_mask() & (uint64_t{1} << (sig - 1))) sigaddset(&mask, sig);
    posix_spawnattr_setsigmask(&ours, &mask);
    posix_spawnattr_setflags(&ours, short(flags | POSIX_SPAWN_SETSIGMASK));
  }
  pid_t real = 0;
  int rc = search_path ? real_posix_spawnp(&real, path, actions, &ours, argv, env.envp)
                       : real_posix_spawn(&real, path, actions, &ours, argv, env.envp);
  pid_t shown = fork_parent_done(v, rc == 0 ? real : -1);  // a failure returns the vpid to the lease
  held.release();
  exec_env_release(env);
  if (rc != 0) return rc;
  if (pid) *pid = shown;
  return 0;
}

}  // namespace vproc::lib

VPROC_EXPORT int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                             const posix_spawnattr_t* attr, char* const argv[],
                             char* const envp[]) noexcept {
  if (!active()) return real_posix_spawn(pid, path, actions, attr, argv, envp);
  return spawn_child(pid, path, actions, attr, argv, envp, false);
}

VPROC_EXPORT int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                              const posix_spawnattr_t* attr, char* const argv[],
                              char* const envp[]) noexcept {
  if (!active()) return real_posix_spawnp(pid, file, actions, attr, argv, envp);
  return spawn_child(pid, file, actions, attr, argv, envp, true);
}
