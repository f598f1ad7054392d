#include "vtid.h"

#include <sys/syscall.h>
#include <time.h>

#include "daemon_link.h"
#include "lease.h"
#include "raw_syscall.h"
#include "state.h"
#include "preload_rules.h"

namespace vproc::lib {
namespace {

// When this thread last could not get a vtid (CLOCK_MONOTONIC ns).
__thread int64_t t_vtid_failed_ns __attribute__((tls_model("initial-exec"))) = 0;

}  // namespace

uint32_t current_vtid() {
  if (uint32_t v = t_vtid) return v;
  ProcessState& st = state();
  uint32_t tid = uint32_t(raw::sys(SYS_gettid));
  if (tid == st.self_real.value) return t_vtid = st.self.value;  // the main thread
  // A thread's vtid must not change once the program has seen one: a failed
  // refill (a checkpoint's signal cutting the round trip short, many threads
  // asking at once) is tried again before falling back to the real tid.
  // (Not when this thread found no daemon a moment ago: no waiting on every
  // call while the daemon is down.)
  VPid v = take_vpid();
  struct timespec now {};
  raw::sys(SYS_clock_gettime, CLOCK_MONOTONIC, &now);
  int64_t now_ns = int64_t(now.tv_sec) * 1000000000 + now.tv_nsec;
  bool recently = t_vtid_failed_ns != 0 && now_ns - t_vtid_failed_ns < 1000000000;
  for (int tries = 0; !v && !recently && tries < 20; ++tries) {
    struct timespec ms = {0, 1000000};
    raw::sys(SYS_nanosleep, &ms, nullptr);
    v = take_vpid();
  }
  if (!v) {
    t_vtid_failed_ns = now_ns;
    return tid;  // no daemon: not cached, the next call tries again
  }
  // Cache before telling the daemon: a signal handler running in between must
  // not allocate a second vtid for this thread.
  t_vtid = v.value;
  notify(wire::Spawned{v.value, tid, st.self.value, true});
  return v.value;
}

}  // namespace vproc::lib
