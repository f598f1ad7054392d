#include "vtid.h"

#include <sys/syscall.h>

#include "daemon_link.h"
#include "lease.h"
#include "raw_syscall.h"
#include "state.h"
#include "preload_rules.h"

namespace vproc::lib {

uint32_t current_vtid() {
  if (uint32_t v = t_vtid) return v;
  ProcessState& st = state();
  uint32_t tid = uint32_t(raw::sys(SYS_gettid));
  if (tid == st.self_real.value) return t_vtid = st.self.value;  // the main thread
  VPid v = take_vpid();
  if (!v) return tid;  // not cached: the next call tries again
  // Cache before telling the daemon: a signal handler running in between must
  // not allocate a second vtid for this thread.
  t_vtid = v.value;
  notify(wire::Spawned{v.value, tid, st.self.value, true});
  return v.value;
}

}  // namespace vproc::lib
