// Who am I, who is my parent, which group and session: getpid and friends.
#include <errno.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "libc_boundary.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "state.h"
#include "translate.h"
#include "vpid_space.h"
#include "vtid.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(getpid);
VPROC_REAL(getppid);
VPROC_REAL(gettid);
VPROC_REAL(getpgid);
VPROC_REAL(getpgrp);
VPROC_REAL(setpgid);
VPROC_REAL(getsid);
VPROC_REAL(setsid);
VPROC_REAL(tcgetpgrp);
VPROC_REAL(tcsetpgrp);

// Cached, no system call: programs call getpid() in hot loops (and the kernel's
// answer would be the real pid anyway).
VPROC_EXPORT pid_t getpid() noexcept {
  if (active()) return pid_t(state().self.value);
  return real_getpid();
}

VPROC_EXPORT pid_t getppid() noexcept {
  pid_t real = real_getppid();
  if (!active()) return real;
  ProcessState& st = state();
  // A guest's kernel parent is the keeper of `vproc restore --guest`; its
  // parent is what it was before it migrated: a vpid, the real pid (on its
  // home node) of a parent outside vproc, or 0 for a parent outside its pid
  // namespace.
  if (st.guest) return pid_t(st.parent);
  // The parent we were created by, still alive (the kernel reparents orphans).
  if (st.parent && real == pid_t(st.parent_real.value)) return pid_t(st.parent);
  return to_virtual_pid(real);
}

VPROC_EXPORT pid_t gettid() noexcept {
  if (!active()) return real_gettid();
  return pid_t(current_vtid());
}

namespace {

// getpgid/getsid: a process argument (0: the caller) in, a group or session id out.
template <typename Real>
pid_t group_of(pid_t pid, Real& real) {
  if (!active()) return real(pid);
  long r = pid == 0 ? 0 : to_real_pid(pid);
  if (r < 0) return fail_errno(int(r));
  pid_t id = real(pid_t(r));
  return id < 0 ? id : to_virtual_pgid(id);
}

}  // namespace

VPROC_EXPORT pid_t getpgid(pid_t pid) noexcept { return group_of(pid, real_getpgid); }

VPROC_EXPORT pid_t getpgrp() noexcept {
  if (!active()) return real_getpgrp();
  return to_virtual_pgid(real_getpgrp());
}

VPROC_EXPORT int setpgid(pid_t pid, pid_t pgid) noexcept {
  if (!active()) return real_setpgid(pid, pgid);
  long rp = pid == 0 ? 0 : to_real_pid(pid);
  if (rp < 0) return fail_errno(int(rp));
  // A negative pgid is the kernel's EINVAL to report; 0 means "pid itself".
  long rg = pgid <= 0 ? pgid : to_real_pgid(pgid);
  if (rg < 0 && pgid > 0) return fail_errno(rg == -ESRCH ? EPERM : int(rg));  // no such group
  return real_setpgid(pid_t(rp), pid_t(rg));
}

VPROC_EXPORT int setpgrp() noexcept { return setpgid(0, 0); }

VPROC_EXPORT pid_t getsid(pid_t pid) noexcept { return group_of(pid, real_getsid); }

// The new session (and group) id is the caller's pid: its vpid for the program.
VPROC_EXPORT pid_t setsid() noexcept {
  pid_t s = real_setsid();
  if (s < 0 || !active()) return s;
  return to_virtual_pgid(s);
}

VPROC_EXPORT pid_t tcgetpgrp(int fd) noexcept {
  pid_t g = real_tcgetpgrp(fd);
  if (g <= 0 || !active()) return g;
  return to_virtual_pgid(g);
}

VPROC_EXPORT int tcsetpgrp(int fd, pid_t pgrp) noexcept {
  if (!active() || pgrp <= 0) return real_tcsetpgrp(fd, pgrp);
  long r = to_real_pgid(pgrp);
  // The kernel answers EPERM for a group that is not in the caller's session.
  if (r < 0) return fail_errno(r == -ESRCH ? EPERM : int(r));
  return real_tcsetpgrp(fd, pid_t(r));
}
