// The public C API (include/vproc/vproc.h).
#include "vproc/vproc.h"

#include <errno.h>
#include <sys/syscall.h>

#include "libc_boundary.h"
#include "pid_types.h"
#include "raw_syscall.h"
#include "state.h"
#include "translate.h"
#include "vpid_space.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_EXPORT int vproc_is_active(void) noexcept { return active() ? 1 : 0; }

VPROC_EXPORT pid_t vproc_self(void) noexcept {
  if (active()) return pid_t(state().self.value);
  return pid_t(raw::sys(SYS_getpid));
}

VPROC_EXPORT pid_t vproc_to_real(pid_t vpid) noexcept {
  if (!active()) return vpid;
  long r = to_real_pid(vpid);
  if (r < 0) return fail_errno(int(r));
  return pid_t(r);
}

VPROC_EXPORT pid_t vproc_to_virtual(pid_t real) noexcept {
  if (!active()) return real;
  return to_virtual_pid(real);
}

VPROC_EXPORT int vproc_home_node(pid_t vpid) noexcept {
  if (!valid_vpid(vpid)) return fail_errno(EINVAL);
  return int(home_node_of(VPid{uint32_t(vpid)}));
}

VPROC_EXPORT int vproc_node_index(void) noexcept {
  if (!active()) return -1;
  return int(state().node_index);
}
