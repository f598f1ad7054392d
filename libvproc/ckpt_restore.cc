// The end of a restore, inside the checkpoint handler of the new process
// (ckpt_handler.cc): what the kernel keeps per task or per process and the
// restorer did not set, and what this library must learn about its new life.
//
// The restorer already rebuilt memory, mm fields, dispositions and FS base;
// the handler's return (rt_sigreturn on the saved frame) will reinstate the
// interrupted code's registers, FPU/AVX state, signal mask and sigaltstack.
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <variant>

#include "ckpt_daemon_call.h"
#include "ckpt_handler.h"
#include "ckpt_internal.h"
#include "ckpt_maps.h"
#include "ckpt_threads.h"
#include "raw_syscall.h"
#include "runtime_paths.h"
#include "state.h"

namespace vproc::lib {
namespace {

void restore_itimers(const CkptState& c) {
  for (int which = 0; which < 3; ++which) {
    if (!c.itimers[which][1]) continue;
    struct itimerval v {};
    v.it_interval.tv_sec = c.itimers[which][0] / 1000000;
    v.it_interval.tv_usec = c.itimers[which][0] % 1000000;
    v.it_value.tv_sec = c.itimers[which][1] / 1000000;
    v.it_value.tv_usec = c.itimers[which][1] % 1000000;
    raw::sys(SYS_setitimer, which, &v, nullptr);
  }
}

// The daemon `vproc restore` registered us with: this node's, which may not
// be the one the image was taken under (another node, or --socket).
void adopt_daemon(ProcessState& st, const vproc_restore_info& ri) {
  char table[sizeof st.table_path];
  if (!memchr(ri.socket_path, 0, sizeof ri.socket_path) || !ri.socket_path[0] ||
      !table_path_for(ri.socket_path, table, sizeof table))
    return;
  copy_cstr(st.socket_path, sizeof st.socket_path, ri.socket_path);
  copy_cstr(st.table_path, sizeof st.table_path, table);
}

// A guest runs no program code before its daemon's word (Resumed): the
// migration commits only once the source has let go of the process. The
// reply waits for that (no timeout: the daemon has its own, and its
// connection closes if it goes away). Refused or lost: the migration is
// called off and the process runs on at its source, so this copy ends,
// quietly (its stdio is the shadow's), with EX_TEMPFAIL (75).
constexpr int kGuestCalledOff = 75;

void await_resume(const ProcessState& st) {
  wire::Reply reply;
  int r = ckpt_daemon_call(wire::Resumed{st.self.value}, reply, 0);
  if (r == 0 && std::holds_alternative<wire::Ok>(reply)) return;
  raw::sys(SYS_exit_group, kGuestCalledOff);
}

// The library's view of itself: new pid, no children, no connection, the
// (possibly new) node's table.
void reset_library(ProcessState& st, long pid, long tid) {
  st.self_real = RealPid{uint32_t(pid)};
  t_real_tid = int(tid);
  st.parent_real = RealPid{uint32_t(raw::sys(SYS_getppid))};
  CkptState& c = st.ckpt;
  c.earlier_child_count = 0;
  child_table().for_each([&](ChildEntry e) {
    if (e.reaped || c.earlier_child_count == CkptState::kMaxEarlierChildren) return;
    c.earlier_children[c.earlier_child_count][0] = e.vpid.value;
    c.earlier_children[c.earlier_child_count][1] = e.real.value;
    ++c.earlier_child_count;
  });
  child_table().clear();
  st.lease.store(0, std::memory_order_relaxed);
  st.conn_fd.store(-1, std::memory_order_relaxed);  // not in the image: nothing to close
  st.conn_busy.store(0, std::memory_order_relaxed);
  st.deferred_count = 0;
  // The ring was not saved (fork children, the image's writer among them, do
  // not inherit it) and its daemon may be another: a new one comes when needed.
  st.ring = 0;
  st.ring_uses = 0;
  st.ring_refused = false;
  for (PendingMsg& m : st.pending) m.phase.store(0, std::memory_order_relaxed);
  st.fork_owner.store(0, std::memory_order_relaxed);
  // The image's table was not saved (the writer skips it): map this node's.
  const void* base = map_table_readonly(st.table_path);
  st.table = TableView(base);
  if (base) {
    st.node_index = st.table.node_index();
    st.link_generation.store(st.table.header().generation.load(std::memory_order_acquire),
                             std::memory_order_relaxed);
  }
}

}  // namespace

void finish_restore(const vproc_restore_info* info) {
  ProcessState& st = state();
  CkptState& c = st.ckpt;
  vproc_restore_info ri = *info;  // it lives in the plan, unmapped below
  long pid = raw::sys(SYS_getpid), tid = raw::sys(SYS_gettid);
  reregister_thread(c.threads[0], tid);
  restore_itimers(c);
  if (ri.restorer_end > ri.restorer_start) raw::sys(SYS_munmap, ri.restorer_start, ri.restorer_end - ri.restorer_start);
  if (ri.plan_end > ri.plan_start) raw::sys(SYS_munmap, ri.plan_start, ri.plan_end - ri.plan_start);
  // The restorer's name and executable are not the program's (PITFALLS 6):
  // the thread name comes back always; /proc/self/exe only where the kernel
  // lets us (CAP_SYS_RESOURCE), otherwise it keeps naming vproc-restorer.
  raw::sys(SYS_prctl, PR_SET_NAME, c.threads[0].comm, 0, 0, 0);
  if (ri.exe_fd >= 0) {
    raw::sys(SYS_prctl, PR_SET_MM, PR_SET_MM_EXE_FILE, ri.exe_fd, 0, 0);
    raw::sys(SYS_close, ri.exe_fd);
  }
  adopt_daemon(st, ri);
  reset_library(st, pid, tid);
  c.quiesce.leader.store(0, std::memory_order_relaxed);
  c.quiesce.waiting_request.store(0, std::memory_order_relaxed);
  // A guest's parent does not run here: its kernel parent is the keeper.
  st.guest = ri.migration != 0;
  if (st.guest) st.parent_real = RealPid{};
  c.generation = ri.generation;
  c.image_dev = ri.image_dev;
  c.image_ino = ri.image_ino;
  c.image_fd = ri.image_fd;
  c.restore_flags = ri.flags;
  recreate_threads(c);  // they wait for the handler's end (ckpt_threads.h)
  // An exec must not hand the image (and its lease) to the next program.
  if (ri.image_fd >= 0) raw::sys(SYS_fcntl, ri.image_fd, F_SETFD, FD_CLOEXEC);
  for (auto& t : c.populate_tid) t.store(0, std::memory_order_relaxed);
  if ((ri.flags & VPROC_RESTORE_LAZY) && ri.image_fd >= 0) start_populating(c);
  if (st.guest) await_resume(st);  // pages are populated meanwhile
}

uint32_t child_before_restore(uint32_t real) {
  const CkptState& c = state().ckpt;
  for (int i = 0; i < c.earlier_child_count; ++i)
    if (c.earlier_children[i][1] == real) return c.earlier_children[i][0];
  return 0;
}

const char* restored_exe_for(const char* proc_path) {
  const ProcessState& st = state();
  const CkptState& c = st.ckpt;
  if (c.generation == 0 || !c.exe_path[0] || !proc_path || strncmp(proc_path, "/proc/", 6) != 0) return nullptr;
  const char* p = proc_path + 6;
  if (strncmp(p, "self/", 5) == 0) {
    p += 5;
  } else {
    uint64_t v = 0;
    const char* digits = p;
    for (; *p >= '0' && *p <= '9'; ++p) v = v * 10 + uint64_t(*p - '0');
    if (p == digits || *p != '/' || (v != st.self.value && v != st.self_real.value)) return nullptr;
    ++p;
  }
  return strcmp(p, "exe") == 0 ? c.exe_path : nullptr;
}

}  // namespace vproc::lib
