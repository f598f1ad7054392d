#include "translate.h"

#include <errno.h>
#include <limits.h>
#include <sys/syscall.h>

#include <variant>

#include "daemon_link.h"
#include "raw_syscall.h"
#include "state.h"
#include "vpid_space.h"
#include "vtid.h"
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

// The parent is known locally before the table may show it (it was forked
// moments ago), but its real pid is only trusted while it is still our parent:
// after it dies the kernel may give that number to anybody.
bool parent_is(RealPid r) {
  ProcessState& st = state();
  return st.parent && r && st.parent_real == r && raw::sys(SYS_getppid) == long(r.value);
}

long to_real(pid_t pid, Want want) {
  if (!is_virtual_number(pid)) return pid;
  if (!valid_vpid(pid)) return -ESRCH;
  ProcessState& st = state();
  const VPid v{uint32_t(pid)};
  if (v == st.self) return st.self_real.value;
  if (want == Want::Thread && v.value == t_vtid) return raw::sys(SYS_gettid);
  if (RealPid r = child_table().real_of(v)) return r.value;
  if (home_node_of(v) != st.node_index) return ask_daemon(v, want);
  Resolved res = st.table.resolve(v);
  if (res.real && usable(res.state, want)) return res.real.value;
  if (v.value == st.parent && parent_is(st.parent_real)) return st.parent_real.value;
  if (res.state == RecordState::Free) return ask_daemon(v, want);
  return -ESRCH;  // reaped
}

pid_t to_virtual(pid_t real, Want want) {
  if (real <= 0 || uint32_t(real) >= kRealPidLimit) return real;
  ProcessState& st = state();
  const RealPid r{uint32_t(real)};
  if (r == st.self_real) return pid_t(st.self.value);
  if (VPid v = child_table().vpid_of(r)) return pid_t(v.value);
  if (VPid v = st.table.vpid_of(r, want == Want::Group)) return pid_t(v.value);
  if (parent_is(r)) return pid_t(st.parent);
  return real;  // not a process under vproc: the program sees the real pid
}

}  // namespace

long to_real_pid(pid_t pid) { return to_real(pid, Want::Process); }
long to_real_pgid(pid_t pgid) { return to_real(pgid, Want::Group); }
long to_real_tid(pid_t tid) { return to_real(tid, Want::Thread); }

pid_t to_virtual_pid(pid_t real) { return to_virtual(real, Want::Process); }
pid_t to_virtual_pgid(pid_t real) { return to_virtual(real, Want::Group); }
pid_t to_virtual_tid(pid_t real) {
  if (real > 0 && real == raw::sys(SYS_gettid)) return pid_t(current_vtid());
  return to_virtual(real, Want::Thread);
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
