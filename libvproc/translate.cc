#include "translate.h"

#include <errno.h>
#include <limits.h>
#include <sys/syscall.h>

#include <variant>

#include "daemon_link.h"
#include "raw_syscall.h"
#include "remote_children.h"
#include "state.h"
#include "vpid_space.h"
#include "vtid.h"
#include "ckpt_threads.h"
#include "preload_rules.h"

namespace vproc::lib {
namespace {

enum class Want { Process, Group, Thread };

bool usable(RecordState s, Want want) {
  return s == RecordState::Alive || s == RecordState::Zombie ||
         (want == Want::Group && s == RecordState::Retired);
}

// The daemon knows vpids the table does not show yet (a sibling's child whose
// Spawned is still in flight: the daemon drains pending input before it answers
// a miss) and, later, vpids of other nodes.
long ask_daemon(VPid v, Want want) {
  wire::Reply reply;
  if (round_trip(wire::Lookup{v.value}, reply) != 0) return -ESRCH;  // nobody can tell
  if (const wire::Where* w = std::get_if<wire::Where>(&reply)) {
    if (w->node_index != state().node_index) return -EREMOTE;
    if (w->real && w->real < kRealPidLimit && usable(RecordState(w->state), want)) return w->real;
    return -ESRCH;
  }
  if (const wire::Error* e = std::get_if<wire::Error>(&reply))
    return e->err == EREMOTE ? -EREMOTE : -ESRCH;
  return -ESRCH;
}

// The reverse question, for a real pid the table does not know: a process that
// another vproc process created moments ago (its Spawned may still be in flight)
// or one outside vproc. The daemon drains pending input before it answers, so a
// pid learned causally after its registration is always found.
VPid ask_daemon_real(RealPid r) {
  wire::Reply reply;
  if (round_trip(wire::LookupReal{r.value}, reply) != 0) return VPid{};
  const wire::Where* w = std::get_if<wire::Where>(&reply);
  if (!w || w->real != r.value || !valid_vpid(w->vpid)) return VPid{};
  RecordState s = RecordState(w->state);
  bool live = s == RecordState::Alive || s == RecordState::Zombie || s == RecordState::Retired;
  return live ? VPid{w->vpid} : VPid{};
}

// The parent is known locally before the table may show it (it was forked
// moments ago), but its real pid is only trusted while it is still our parent:
// after it dies the kernel may give that number to anybody.
bool parent_is(RealPid r) {
  ProcessState& st = state();
  return st.parent && r && st.parent_real == r && raw::sys(SYS_getppid) == long(r.value);
}

// kill(2) with signal 0 checks existence (and permission: EPERM still means
// the group exists). A reaped child of ours that the daemon has not heard of
// yet may lead a group; the kernel keeps the number while the group exists.
bool real_group_exists(pid_t pgid) { return pgid > 0 && raw::sys(SYS_kill, -long(pgid), 0) != -ESRCH; }

long to_real(pid_t pid, Want want) {
  if (!is_virtual_number(pid)) return pid;
  if (!valid_vpid(pid)) return -ESRCH;
  ProcessState& st = state();
  const VPid v{uint32_t(pid)};
  if (v == st.self) return st.self_real.value;
  if (want == Want::Thread && v.value == t_vtid) return raw::sys(SYS_gettid);
  if (want == Want::Thread)
    if (int t = restored_thread_tid(v.value)) return t;  // ckpt_threads.h
  if (RealPid r = child_table().real_of(v)) return r.value;
  if (home_node_of(v) != st.node_index) {
    // A guest's child knows its parent (another node's vpid) without asking.
    if (v.value == st.parent && parent_is(st.parent_real)) return st.parent_real.value;
    return ask_daemon(v, want);
  }
  Resolved res = st.table.resolve(v);
  if (res.real && usable(res.state, want)) return res.real.value;
  if (v.value == st.parent && parent_is(st.parent_real)) return st.parent_real.value;
  if (want == Want::Group)
    if (RealPid r = child_table().group_real_of(v); r && real_group_exists(pid_t(r.value))) return r.value;
  if (res.state == RecordState::Free) return ask_daemon(v, want);
  return -ESRCH;  // reaped
}

pid_t to_virtual(pid_t real) {
  if (real <= 0 || uint32_t(real) >= kRealPidLimit) return real;
  ProcessState& st = state();
  const RealPid r{uint32_t(real)};
  if (r == st.self_real) return pid_t(st.self.value);
  if (VPid v = child_table().vpid_of(r)) return pid_t(v.value);
  if (VPid v = remote_child_of_standin(r)) return pid_t(v.value);  // si_pid of its SIGCHLD
  // Retired records too: a reaped process's pid still names its group, and a
  // signal it sent before it was reaped still carries its pid. The kernel
  // hands out pids cyclically, so the number is not reused before the daemon
  // frees the record (when no group of that number is left).
  if (VPid v = st.table.vpid_of(r, true)) return pid_t(v.value);
  if (parent_is(r)) return pid_t(st.parent);
  // A child we reaped: its group, or the sender of a signal still pending.
  if (VPid v = child_table().group_vpid_of(r)) return pid_t(v.value);
  if (VPid v = ask_daemon_real(r)) return pid_t(v.value);
  return real;  // not a process under vproc: the program sees the real pid
}

}  // namespace

long to_real_pid(pid_t pid) { return to_real(pid, Want::Process); }
long to_real_pgid(pid_t pgid) { return to_real(pgid, Want::Group); }
long to_real_tid(pid_t tid) { return to_real(tid, Want::Thread); }

// One answer for processes and groups: the table's retired records and our
// reaped children already cover a group whose leader is gone.
pid_t to_virtual_pid(pid_t real) {
  // A guest's kernel parent, its keeper, shows as the parent getppid() names
  // (/proc/self/stat and status agree with it). Not for groups: the keeper
  // also leads the guest's session.
  ProcessState& st = state();
  if (st.guest && real > 0 && real == raw::sys(SYS_getppid)) return pid_t(st.parent);
  return to_virtual(real);
}
pid_t to_virtual_pgid(pid_t real) { return to_virtual(real); }
pid_t to_virtual_tid(pid_t real) {
  if (real > 0 && real == raw::sys(SYS_gettid)) return pid_t(current_vtid());
  if (uint32_t v = restored_thread_vtid(real)) return pid_t(v);
  return to_virtual(real);
}

pid_t to_real_pid_or_group(pid_t pid, int* err) {
  *err = 0;
  // Own group, everybody, and a value the kernel rejects by itself.
  if (pid == 0 || pid == -1 || pid == INT_MIN) return pid;
  long r = pid > 0 ? to_real_pid(pid) : to_real_pgid(-pid);
  if (r < 0) {
    *err = int(r);
    return pid;
  }
  return pid > 0 ? pid_t(r) : pid_t(-r);
}

}  // namespace vproc::lib
