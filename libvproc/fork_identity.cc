#include "fork_identity.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#include <variant>

#include "ckpt_internal.h"
#include "daemon_link.h"
#include "diag.h"
#include "lease.h"
#include "raw_syscall.h"
#include "state.h"
#include "vm_child.h"
#include "vpid_space.h"
#include "libc_boundary.h"
#include "preload_rules.h"

namespace vproc::lib {

namespace {

// Ends the plan the caller's fork_prepare() made (the one for vpid `v`). Reads
// before it writes: an unchanged page causes no copy-on-write fault.
void fork_plan_done(VPid v) {
  ProcessState& st = state();
  if (t_real_tid != 0 && st.fork_owner.load(std::memory_order_relaxed) == t_real_tid && st.fork_v == v)
    st.fork_owner.store(0, std::memory_order_release);
  else if (t_fork.pending)
    t_fork.pending = false;
}

}  // namespace

VPid fork_prepare() {
  ProcessState& st = state();
  // Right after a lazy restore: the child would get the pages not yet made
  // private still mapped from the image, and none of the threads copying
  // them. Waiting for those threads (a fraction of a second, once) gives it
  // private pages only, without threads of ours it would show (in its task
  // list, or to getpriority(PRIO_PGRP)) or copies a prompt exec would waste.
  wait_for_populate(st.ckpt);
  VPid v = take_vpid();
  int me = cached_real_tid(), free = 0;
  if (st.fork_owner.compare_exchange_strong(free, me, std::memory_order_acq_rel)) {
    st.fork_v = v;
    st.fork_parent = st.self.value;
    st.fork_parent_real = st.self_real;
  } else {
    t_fork = ForkInFlight{v, st.self.value, st.self_real, true};
  }
  return v;
}

VPROC_FORK_CHILD_PATH void fork_child_setup(VPid v, uint32_t parent, RealPid parent_real, bool own_tls) {
  ProcessState& st = state();
  RealPid real{uint32_t(raw::sys(SYS_getpid))};
  st.parent = parent;
  st.parent_real = parent_real;
  if (st.guest) st.guest = false;  // a guest's children are this node's processes
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
    t_real_tid = int(real.value);
    t_fork.pending = false;
  }
  if (st.fork_owner.load(std::memory_order_relaxed) != 0) st.fork_owner.store(0, std::memory_order_relaxed);
  link_after_fork_child();
  populate_after_fork(int(parent_real.value));  // a fork fork_prepare() did not see, during a lazy restore's copying
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
  if (round_trip(wire::Hello{wire::kProtocolVersion, 0, st.parent, uint32_t(st.ckpt.signo)}, reply) != 0) return;
  const wire::HelloOk* ok = std::get_if<wire::HelloOk>(&reply);
  if (!ok || !valid_vpid(ok->vpid) || home_node_of(VPid{ok->vpid}) != st.node_index) return;
  st.self = VPid{ok->vpid};
  t_vtid = ok->vpid;
  install_lease(ok->lease.first, ok->lease.count);
}

}  // namespace

VPROC_FORK_CHILD_PATH bool fork_plan_pending() {
  return t_fork.pending || (t_real_tid != 0 && state().fork_owner.load(std::memory_order_relaxed) == t_real_tid);
}

VPROC_FORK_CHILD_PATH void fork_child_finish() {
  ProcessState& st = state();
  if (st.init.load(std::memory_order_acquire) != InitState::Active) {
    t_fork.pending = false;  // e.g. the child of a clone into a new PID namespace
    return;
  }
  if (t_fork.pending) {
    fork_child_setup(t_fork.v, t_fork.parent, t_fork.parent_real);
    return;
  }
  // The plan on the shared page is ours if our thread (its tid, copied into
  // this child with its TLS) claimed it; another thread's plan is not.
  if (t_real_tid != 0 && st.fork_owner.load(std::memory_order_relaxed) == t_real_tid) {
    fork_child_setup(st.fork_v, st.fork_parent, st.fork_parent_real);
    return;
  }
  // Already done: the identity matches the kernel's pid.
  if (raw::sys(SYS_getpid) == long(st.self_real.value)) return;
  adopt_foreign_fork();
}

namespace {

// How many reaped children are kept at most (each costs every lookup a load).
constexpr int kMaxReapedKept = 256;

// A reaped child is kept until the daemon has let go of it: the shared table
// showed it and shows it no more (the daemon frees a record once no group of
// that number is left). Beyond kMaxReapedKept (e.g. while no daemon runs), the
// ones the table shows go first (it translates those itself), then any.
void sweep_reaped_children() {
  ChildTable children = child_table();
  const TableView& table = state().table;
  auto shown = [&](ChildEntry c) {
    Resolved res = table.resolve(c.vpid);
    return res.state != RecordState::Free && res.real == c.real;
  };
  int kept = 0;
  children.for_each([&](ChildEntry c) {
    if (!c.reaped) return;
    if (shown(c)) {
      if (!c.seen) children.mark_seen(c.vpid);
    } else if (c.seen) {
      children.remove(c.vpid);  // the daemon let go of it
      return;
    }
    ++kept;
  });
  for (int pass = 0; pass < 2 && kept > kMaxReapedKept; ++pass)
    children.for_each([&](ChildEntry c) {
      if (kept > kMaxReapedKept && c.reaped && (pass == 1 || shown(c)) && children.remove(c.vpid)) --kept;
    });
}

}  // namespace

void child_reaped(pid_t shown) {
  if (shown <= 0) return;
  ChildTable children = child_table();
  VPid v{uint32_t(shown)};
  vm_child_reaped(v);
  // Kept (see children.h); degraded children, recorded by their real pid, go.
  if (!is_virtual_number(shown) || !children.mark_reaped(v)) children.remove(v);
  sweep_reaped_children();
  if (is_virtual_number(shown)) notify_reaped_later(v.value);
}

pid_t fork_parent_done(VPid v, pid_t real, bool own_child) {
  ProcessState& st = state();
  fork_plan_done(v);
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

void SignalsHeld::hold() {
  uint64_t all = ~uint64_t{0};  // the kernel ignores SIGKILL and SIGSTOP in a mask
  held_ = !raw::failed(raw::sys(SYS_rt_sigprocmask, SIG_BLOCK, &all, &saved_, sizeof all));
}

VPROC_FORK_CHILD_PATH void SignalsHeld::release() {
  if (held_) raw::sys(SYS_rt_sigprocmask, SIG_SETMASK, &saved_, nullptr, sizeof saved_);
  held_ = false;
}

void install_fork_handler() { pthread_atfork(nullptr, nullptr, fork_child_finish); }

}  // namespace vproc::lib
