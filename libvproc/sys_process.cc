// syscall()-level process creation, waiting and signalling where glibc has no
// function with the kernel's behaviour: clone/clone3, waitid with rusage, tkill,
// and the calls that carry a program-made siginfo.
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "children.h"
#include "daemon_link.h"
#include "fork_identity.h"
#include "pid_types.h"
#include "raw_syscall.h"
#include "remote_children.h"
#include "siginfo_pid.h"
#include "state.h"
#include "sys_entry.h"
#include "translate.h"
#include "preload_rules.h"

namespace vproc::lib::sys {
namespace {

long target_error(long err) { return err == -EREMOTE ? -EREMOTE : -ESRCH; }

// Who the child's parent is: the caller, or with CLONE_PARENT the caller's parent.
struct ParentOf {
  uint32_t vpid;
  RealPid real;
};
ParentOf parent_for(unsigned long flags) {
  ProcessState& st = state();
  if (flags & CLONE_PARENT) return {st.parent, st.parent_real};
  return {st.self.value, st.self_real};
}

// In the child of a fork-like clone. A new PID namespace gives the child pids
// our table cannot describe: it runs without virtual PIDs (as wrap_fork.cc's clone).
void child_side(VPid v, unsigned long flags, ParentOf parent, int* ctid) {
  if (flags & CLONE_NEWPID) {
    state().init.store(InitState::Inactive, std::memory_order_release);
    return;
  }
  fork_child_setup(v, parent.vpid, parent.real);
  if ((flags & CLONE_CHILD_SETTID) && ctid) *ctid = pid_t(state().self.value);
}

// In the caller: the kernel's result to the program's pid (errno-free: -errno).
long parent_side(VPid v, long r, unsigned long flags, int* ptid) {
  int saved = errno;
  pid_t shown = fork_parent_done(v, r < 0 ? -1 : pid_t(r), !(flags & CLONE_PARENT));
  errno = saved;
  if (r < 0) return r;
  if ((flags & CLONE_PARENT_SETTID) && ptid) *ptid = shown;
  return shown;
}

// A copy of a program-made siginfo with a vpid in si_pid made real.
bool real_siginfo(const siginfo_t* info, siginfo_t* out) {
  if (!info) return false;
  *out = *info;
  siginfo_pid_to_real(out);
  return true;
}

}  // namespace

bool clone_is_fork_like(unsigned long flags, bool new_stack) {
  return !(flags & (CLONE_VM | CLONE_THREAD)) && !new_stack;
}

long clone(unsigned long flags, void* stack, int* ptid, int* ctid, unsigned long tls) {
  ParentOf parent = parent_for(flags);
  VPid v = fork_prepare();
  long r = raw::sys(SYS_clone, flags, stack, ptid, ctid, tls);
  if (r == 0) {
    child_side(v, flags, parent, ctid);
    return 0;
  }
  return parent_side(v, r, flags, ptid);
}

long clone3(struct clone_args* args, size_t size) {
  ParentOf parent = parent_for(args->flags);
  VPid v = fork_prepare();
  long r = raw::sys(SYS_clone3, args, size);
  int* ctid = reinterpret_cast<int*>(uintptr_t(args->child_tid));
  int* ptid = reinterpret_cast<int*>(uintptr_t(args->parent_tid));
  if (r == 0) {
    child_side(v, args->flags, parent, ctid);
    return 0;
  }
  return parent_side(v, r, args->flags, ptid);
}

long waitid(int idtype, id_t id, siginfo_t* info, int options, void* rusage) {
  id_t target = id;
  RealPid standin = idtype == P_PID ? remote_standin_of(VPid{uint32_t(id)}) : RealPid{};
  if (standin) {
    target = standin.value;  // a child left behind (remote_children.h)
  } else if ((idtype == P_PID || idtype == P_PGID) && is_virtual_number(id)) {
    long r = idtype == P_PID ? to_real_pid(pid_t(id)) : to_real_pgid(pid_t(id));
    if (r < 0) return -ECHILD;  // a vpid nobody uses is not our child
    target = id_t(r);
  }
  siginfo_t local;
  siginfo_t* si = info ? info : &local;
  si->si_pid = 0;
  long r = raw::sys(SYS_waitid, idtype, target, si, options, rusage);
  if (r != 0 || si->si_pid <= 0) return r;
  VPid remote = remote_child_of_standin(RealPid{uint32_t(si->si_pid)});
  pid_t shown = remote ? pid_t(remote.value) : to_virtual_pid(si->si_pid);
  si->si_pid = shown;
  // As wrap_wait.cc: a reaped child leaves our table and the daemon is told.
  bool reaped = (options & WEXITED) && !(options & WNOWAIT) &&
                (si->si_code == CLD_EXITED || si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED);
  if (reaped && remote) remote_child_reaped(remote);
  else if (reaped) child_reaped(shown);
  return r;
}

long tkill(pid_t tid, int sig) {
  long rt = tid > 0 ? to_real_tid(tid) : tid;
  if (rt < 0 && tid > 0) return target_error(rt);
  return raw::sys(SYS_tkill, rt, sig);
}

long rt_sigqueueinfo(pid_t tgid, int sig, const siginfo_t* info) {
  long rg = tgid > 0 ? to_real_pid(tgid) : tgid;
  if (rg < 0 && tgid > 0) return target_error(rg);
  siginfo_t copy;
  return raw::sys(SYS_rt_sigqueueinfo, rg, sig, real_siginfo(info, &copy) ? &copy : info);
}

long rt_tgsigqueueinfo(pid_t tgid, pid_t tid, int sig, const siginfo_t* info) {
  long rg = tgid > 0 ? to_real_pid(tgid) : tgid;
  if (rg < 0 && tgid > 0) return target_error(rg);
  long rt = tid > 0 ? to_real_tid(tid) : tid;
  if (rt < 0 && tid > 0) return target_error(rt);
  siginfo_t copy;
  return raw::sys(SYS_rt_tgsigqueueinfo, rg, rt, sig, real_siginfo(info, &copy) ? &copy : info);
}

long pidfd_send_signal(int pidfd, int sig, const siginfo_t* info, unsigned flags) {
  siginfo_t copy;
  return raw::sys(SYS_pidfd_send_signal, pidfd, sig, real_siginfo(info, &copy) ? &copy : info, flags);
}

}  // namespace vproc::lib::sys
