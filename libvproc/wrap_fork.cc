// Process creation by duplication: fork, vfork, _Fork, and clone when it
// makes a process (no CLONE_VM / CLONE_THREAD).
#include <sched.h>
#include <stdarg.h>
#include <unistd.h>

#include "fork_identity.h"
#include "lease.h"
#include "libc_boundary.h"
#include "real_fn.h"
#include "state.h"
#include "vm_child.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(fork);
VPROC_REAL(_Fork);
VPROC_REAL(clone);

namespace {

template <typename RealCall>
VPROC_FORK_CHILD_PATH pid_t fork_with(RealCall real_call) {
  VPid v = fork_prepare();
  SignalsHeld held;
  held.hold();
  pid_t pid = real_call();
  if (pid == 0) {
    // Done by our atfork handler already, except after _Fork (no handlers).
    if (fork_plan_pending()) fork_child_finish();
    held.release();
    return 0;
  }
  pid = fork_parent_done(v, pid);
  held.release();  // raw system call: errno of a failed fork stays
  return pid;
}

// What the child of a fork-like clone needs before it runs the caller's fn.
// Passed by pointer into the parent's stack: without CLONE_VM the child has its
// own copy of that memory, so the pointer stays valid there.
struct CloneStart {
  int (*fn)(void*);
  void* arg;
  VPid v;
  uint32_t parent;
  RealPid parent_real;
  int flags;
  pid_t* ctid;
  bool new_pid_ns;
  SignalsHeld* held;  // the parent's, in the child's copy of its stack
};

int clone_child_entry(void* p) {
  const CloneStart* cs = static_cast<const CloneStart*>(p);
  const bool own_tls = !(cs->flags & CLONE_SETTLS);
  if (own_tls) t_fork.pending = false;  // the plan is applied right here
  if (cs->new_pid_ns) {
    // In a new PID namespace the kernel's pids are the namespace's own, which
    // our table cannot describe: the child runs without virtual PIDs.
    state().init.store(InitState::Inactive, std::memory_order_release);
  } else {
    fork_child_setup(cs->v, cs->parent, cs->parent_real, own_tls);
    if ((cs->flags & CLONE_CHILD_SETTID) && cs->ctid) *cs->ctid = pid_t(state().self.value);
  }
  cs->held->release();
  return cs->fn(cs->arg);
}

// clone(CLONE_VM) without CLONE_THREAD: a process sharing our memory
// (vm_child.h). Its identity waits in a slot until it execs.
int clone_shared_vm(int (*fn)(void*), void* stack, int flags, void* arg, pid_t* ptid, void* tls,
                    pid_t* ctid) {
  VPid v = take_vpid();
  SignalsHeld held;
  held.hold();
  VmChildSlot* slot = vm_child_claim(v, fn, arg, held.saved_mask());
  if (!slot) {  // every slot in use: the child goes without (its exec registers it anew)
    held.release();
    give_back_vpid(v);
    return real_clone(fn, stack, flags, arg, ptid, tls, ctid);
  }
  int pid = real_clone(vm_child_entry, stack, flags, slot, ptid, tls, ctid);
  if (pid > 0) slot->real.store(uint32_t(pid), std::memory_order_release);
  pid_t shown = fork_parent_done(v, pid, !(flags & CLONE_PARENT));
  if (pid > 0 && (flags & CLONE_PARENT_SETTID) && ptid) *ptid = shown;
  // CLONE_VFORK: the child has exec'd or exited, it needs the slot no more.
  if (pid < 0 || (flags & CLONE_VFORK)) vm_child_release(slot);
  held.release();
  return shown;
}

}  // namespace

VPROC_EXPORT VPROC_FORK_CHILD_PATH pid_t fork() noexcept {
  if (!active()) return real_fork();
  return fork_with([] { return real_fork(); });
}

// vfork is implemented as fork, active or not. A vfork child shares the
// caller's memory and stack until it execs or exits; a wrapper cannot let it
// return through its own frame (the child would clobber the frame the parent
// then returns through), and the child would overwrite our ProcessState in the
// parent's memory. POSIX allows vfork to be fork; the cost is a page-table copy.
VPROC_EXPORT VPROC_FORK_CHILD_PATH pid_t vfork() noexcept {
  if (!active()) return real_fork();
  return fork_with([] { return real_fork(); });
}

// Like fork without the atfork handlers (async-signal-safe in glibc 2.34+);
// our work around it uses only raw syscalls and atomics, so it stays so.
VPROC_EXPORT VPROC_FORK_CHILD_PATH pid_t _Fork() noexcept {
  if (!active()) return real__Fork();
  return fork_with([] { return real__Fork(); });
}

VPROC_EXPORT int clone(int (*fn)(void*), void* stack, int flags, void* arg, ...) noexcept {
  // The optional arguments, read as glibc's own clone does: they are only
  // meaningful with the flags that use them.
  va_list ap;
  va_start(ap, arg);
  pid_t* ptid = va_arg(ap, pid_t*);
  void* tls = va_arg(ap, void*);
  pid_t* ctid = va_arg(ap, pid_t*);
  va_end(ap);
  // Threads are not processes; a child in a new PID namespace that shares our
  // memory could not even be told apart from us.
  const bool vm_in_new_ns = (flags & CLONE_VM) && (flags & CLONE_NEWPID);
  if (!active() || (flags & CLONE_THREAD) || !fn || vm_in_new_ns)
    return real_clone(fn, stack, flags, arg, ptid, tls, ctid);
  if (flags & CLONE_VM) return clone_shared_vm(fn, stack, flags, arg, ptid, tls, ctid);

  ProcessState& st = state();
  const bool sibling = flags & CLONE_PARENT;  // the child's parent is our parent
  // The child entry gets its identity from `cs`, not from fork_prepare()'s TLS:
  // with CLONE_SETTLS the child runs with another thread pointer.
  SignalsHeld held;
  CloneStart cs{fn,
                arg,
                fork_prepare(),
                sibling ? st.parent : st.self.value,
                sibling ? st.parent_real : st.self_real,
                flags,
                ctid,
                (flags & CLONE_NEWPID) != 0,
                &held};
  held.hold();
  int pid = real_clone(clone_child_entry, stack, flags, &cs, ptid, tls, ctid);
  pid_t shown = fork_parent_done(cs.v, pid, !sibling);
  if (pid > 0 && (flags & CLONE_PARENT_SETTID) && ptid) *ptid = shown;
  held.release();
  return shown;
}
