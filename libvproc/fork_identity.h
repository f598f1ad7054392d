// The identity work around a process-creating call (fork, vfork, _Fork, and
// clone without CLONE_VM): the child's vpid is taken from the lease BEFORE the
// kernel creates the child, so both sides know it the moment they run.
#pragma once

#include <sys/types.h>

#include "pid_types.h"

namespace vproc::lib {

// Before the real call: takes the new child's vpid (empty when no daemon could
// refill the lease; the child then runs with its real pid as its identity) and
// remembers, for this thread, what the child must become.
VPid fork_prepare();

// In the child: adopts the identity fork_prepare() planned, once. Runs as the
// first pthread_atfork child handler (registered by init, so the program's own
// handlers already see the child's vpid) and again after the real call returns
// 0 if fork_plan_pending() (for _Fork, which runs no handlers). In the
// child of a fork inside glibc that bypassed our wrappers (daemon()), it asks
// the daemon for a new vpid.
// Only raw syscalls and atomics: the child of a multi-threaded program may do
// nothing else.
void fork_child_finish();

// In a fork child: is this thread's plan (fork_prepare) still to be applied?
bool fork_plan_pending();

// The child's identity, for clone() whose child may run with another thread
// pointer (CLONE_SETTLS: `own_tls` false, our TLS variables are not there).
// `parent`/`parent_real`: the caller's, or the caller's parent's (CLONE_PARENT).
void fork_child_setup(VPid v, uint32_t parent, RealPid parent_real, bool own_tls = true);

// In the caller after the real call: records and announces the child (unless
// `own_child` is false: CLONE_PARENT makes it a sibling) and returns the pid
// the program must see. A failed call (real < 0) returns `real`, errno intact.
pid_t fork_parent_done(VPid v, pid_t real, bool own_child = true);

// A wait call reaped the child the program knows as `shown` (its vpid, or its
// real pid if it had none): forget it and tell the daemon (Reaped).
void child_reaped(pid_t shown);

// Every signal held from just before a process is created until it is
// recorded in the child table: the child may signal us at once, and a handler
// translating that si_pid must find it there. Released in parent and child.
class SignalsHeld {
 public:
  void hold();     // blocks every signal, remembering the mask before
  void release();  // restores that mask
  uint64_t saved_mask() const { return saved_; }  // the kernel's 64-bit sigset

 private:
  uint64_t saved_ = 0;
  bool held_ = false;
};

// Registers fork_child_finish() with pthread_atfork (from init).
void install_fork_handler();

}  // namespace vproc::lib
