#include "fork_identity.h"

#include <pthread.h>
#include <sys/syscall.h>

#include <variant>

#include "daemon_link.h"
#include "diag.h"
#include "lease.h"
#include "raw_syscall.h"
#include "state.h"
#include "vpid_space.h"
#include "preload_rules.h"

namespace vproc::lib {

VPid fork_prepare() {
  ProcessState& st = state();
  VPid v = take_vpid();
  t_fork = ForkInFlight{v, st.self.value, st.self_real, true};
  return v;
}

void fork_child_setup(VPid v, uint32_t parent, RealPid parent_real, bool own_tls) {
  ProcessState& st = state();
  RealPid real{uint32_t(raw::sys(SYS_getpid))};
  st.parent = parent;
  st.parent_real = parent_real;
  // Degraded (no vpid could be had): the real pid is the identity. It is below
  // 2^22, so every translation passes it through unchanged.
  st.self = v ? v : VPid{real.value};
  st.self_real = real;
  child_table().clear();
  st.lease.store(0, std::memory_order_relaxed);
  st.lease_refills.store(0, std::memory_order_relaxed);
  // The forking thread is this process's main (and only) thread now.
  if (own_tls) {
    t_vtid = st.self.value;
    t_fork.pending = false;
  }
  link_after_fork_child();
}

namespace {

// A fork our wrappers did not see: glibc forks internally in daemon() (and
// wordexp), running the atfork handlers but not our fork(). The child has its
// parent's identity in memory and no vpid was reserved for it, so it registers
// itself as a new process (its parent never learns the vpid, but daemon()'s
// parent just exits).
void adopt_foreign_fork() {
  ProcessState& st = state();
  fork_child_setup(VPid{}, st.self.value, st.self_real);  // its real pid until the daemon answers
  wire::Reply reply;
  if (round_trip(wire::Hello{wire::kProtocolVersion, 0, st.parent}, reply) != 0) return;
  const wire::HelloOk* ok = std::get_if<wire::HelloOk>(&reply);
  if (!ok || !valid_vpid(ok->vpid) || home_node_of(VPid{ok->vpid}) != st.node_index) return;
  st.self = VPid{ok->vpid};
  t_vtid = ok->vpid;
  install_lease(ok->lease.first, ok->lease.count);
}

}  // namespace

void fork_child_finish() {
  ProcessState& st = state();
  if (st.init.load(std::memory_order_acquire) != InitState::Active) {
    t_fork.pending = false;  // e.g. the child of a clone into a new PID namespace
    return;
  }
  if (t_fork.pending) {
    fork_child_setup(t_fork.v, t_fork.parent, t_fork.parent_real);
    return;
  }
  // Already done: the identity matches the kernel's pid.
  if (raw::sys(SYS_getpid) == long(st.self_real.value)) return;
  adopt_foreign_fork();
}

void child_reaped(pid_t shown) {
  if (shown <= 0) return;
  child_table().remove(VPid{uint32_t(shown)});  // degraded children are recorded by real pid
  if (is_virtual_number(shown)) notify(wire::Reaped{uint32_t(shown)});
}

pid_t fork_parent_done(VPid v, pid_t real, bool own_child) {
  ProcessState& st = state();
  t_fork.pending = false;
  if (real < 0) {
    give_back_vpid(v);
    return real;
  }
  if (!v) {
    diag_once(kNoticeDegradedFork, {"could not lease virtual PIDs from the daemon at ", st.socket_path,
                                    "; new children run with their real PIDs"});
    // Recorded all the same (under its real pid): should the child register
    // itself later, this parent must keep seeing the pid fork() returned.
    if (own_child) child_table().add(VPid{uint32_t(real)}, RealPid{uint32_t(real)});
    return real;
  }
  if (own_child) child_table().add(v, RealPid{uint32_t(real)});
  uint32_t parent = own_child ? st.self.value : st.parent;
  notify(wire::Spawned{v.value, uint32_t(real), parent, false});
  return pid_t(v.value);
}

void install_fork_handler() { pthread_atfork(nullptr, nullptr, fork_child_finish); }

}  // namespace vproc::lib
