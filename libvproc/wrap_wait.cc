// Waiting for children: wait, waitpid, wait3, wait4, waitid.
//
// The pid argument is translated to the kernel's; the pid reported back is the
// child's vpid. When a child is reaped (not merely stopped or continued, not
// WNOHANG's "nothing yet", not WNOWAIT) it leaves our child table and the
// daemon is told (Reaped), as the kernel's real pid may be reused from then on.
//
// A child left behind by a migration is waited for through its local
// stand-in (remote_children.h): a wait for its vpid waits for the stand-in,
// and the stand-in's real pid is reported as the child's vpid.
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "ckpt_handler.h"
#include "fork_identity.h"
#include "libc_boundary.h"
#include "pid_types.h"
#include "real_fn.h"
#include "remote_children.h"
#include "state.h"
#include "translate.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(wait);
VPROC_REAL(waitpid);
VPROC_REAL(wait3);
VPROC_REAL(wait4);
VPROC_REAL(waitid);

namespace {

// The kernel reported `real` with `status`: the pid the program sees.
pid_t report(pid_t real, int status) {
  if (real <= 0) return real;
  if (VPid v = remote_child_of_standin(RealPid{uint32_t(real)})) {
    if (WIFEXITED(status) || WIFSIGNALED(status)) remote_child_reaped(v);  // its shadow reaped the child
    return pid_t(v.value);
  }
  // Translated before forgetting: the child table still knows a reaped child
  // whose real pid the kernel may already have handed to a new process.
  pid_t shown = to_virtual_pid(real);
  if (shown == real)
    if (uint32_t v = child_before_restore(uint32_t(real))) return pid_t(v);  // reaped just before a checkpoint
  if (WIFEXITED(status) || WIFSIGNALED(status)) child_reaped(shown);
  return shown;
}

// The pid argument of waitpid/wait4. A vpid that is nobody's is not our child:
// ECHILD, as the kernel says for a pid that is not its caller's child.
bool real_wait_target(pid_t pid, pid_t* out) {
  if (RealPid r = pid > 0 ? remote_standin_of(VPid{uint32_t(pid)}) : RealPid{}) {
    *out = pid_t(r.value);
    return true;
  }
  int err = 0;
  *out = to_real_pid_or_group(pid, &err);
  return err == 0;
}

}  // namespace

VPROC_EXPORT pid_t wait(int* wstatus) noexcept {
  if (!active()) return real_wait(wstatus);
  int status = 0;
  pid_t r = real_wait(&status);
  if (r > 0 && wstatus) *wstatus = status;
  return report(r, status);
}

VPROC_EXPORT pid_t waitpid(pid_t pid, int* wstatus, int options) noexcept {
  if (!active()) return real_waitpid(pid, wstatus, options);
  pid_t target;
  if (!real_wait_target(pid, &target)) return fail_errno(ECHILD);
  int status = 0;
  pid_t r = real_waitpid(target, &status, options);
  if (r > 0 && wstatus) *wstatus = status;
  return report(r, status);
}

VPROC_EXPORT pid_t wait3(int* wstatus, int options, struct rusage* usage) noexcept {
  if (!active()) return real_wait3(wstatus, options, usage);
  int status = 0;
  pid_t r = real_wait3(&status, options, usage);
  if (r > 0 && wstatus) *wstatus = status;
  return report(r, status);
}

VPROC_EXPORT pid_t wait4(pid_t pid, int* wstatus, int options, struct rusage* usage) noexcept {
  if (!active()) return real_wait4(pid, wstatus, options, usage);
  pid_t target;
  if (!real_wait_target(pid, &target)) return fail_errno(ECHILD);
  int status = 0;
  pid_t r = real_wait4(target, &status, options, usage);
  if (r > 0 && wstatus) *wstatus = status;
  return report(r, status);
}

VPROC_EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t* infop, int options) noexcept {
  if (!active()) return real_waitid(idtype, id, infop, options);
  id_t target = id;
  RealPid standin = idtype == P_PID ? remote_standin_of(VPid{uint32_t(id)}) : RealPid{};
  if (standin) {
    target = standin.value;
  } else if ((idtype == P_PID || idtype == P_PGID) && is_virtual_number(id)) {
    long r = idtype == P_PID ? to_real_pid(pid_t(id)) : to_real_pgid(pid_t(id));
    if (r < 0) return fail_errno(ECHILD);
    target = id_t(r);
  }
  // Our own siginfo when the program passed none: only si_pid tells whether a
  // child was reaped, and which.
  siginfo_t local;
  siginfo_t* info = infop ? infop : &local;
  info->si_pid = 0;
  int r = real_waitid(idtype, target, info, options);
  if (r != 0 || info->si_pid <= 0) return r;
  VPid remote = remote_child_of_standin(RealPid{uint32_t(info->si_pid)});
  pid_t shown = remote ? pid_t(remote.value) : to_virtual_pid(info->si_pid);
  info->si_pid = shown;
  bool reaped = (options & WEXITED) && !(options & WNOWAIT) &&
                (info->si_code == CLD_EXITED || info->si_code == CLD_KILLED || info->si_code == CLD_DUMPED);
  if (reaped && remote) remote_child_reaped(remote);
  else if (reaped) child_reaped(shown);
  return r;
}
