#include "state.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <variant>

#include "ckpt_handler.h"
#include "daemon_link.h"
#include "diag.h"
#include "env_inject.h"
#include "fork_identity.h"
#include "lease.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "runtime_paths.h"
#include "translate.h"
#include "vpid_space.h"
#include "preload_rules.h"

namespace vproc::lib {

constinit ProcessState g_process_state;
__thread uint32_t t_vtid __attribute__((tls_model("initial-exec"))) = 0;
__thread ForkInFlight t_fork __attribute__((tls_model("initial-exec")));
__thread int t_real_tid __attribute__((tls_model("initial-exec")));

namespace {

void copy_str(char* out, size_t cap, const char* s) {
  size_t n = 0;
  while (s[n] && n < cap - 1) {
    out[n] = s[n];
    ++n;
  }
  out[n] = '\0';
}

// Our own file, for LD_PRELOAD in exec'ed images. dladdr reports the name the
// loader was given, which may be relative to a directory the program leaves.
void find_lib_path(ProcessState& st) {
  Dl_info info;
  if (!dladdr(reinterpret_cast<void*>(&ensure_init), &info) || !info.dli_fname) return;
  if (info.dli_fname[0] == '/' || !realpath(info.dli_fname, st.lib_path))
    copy_str(st.lib_path, sizeof st.lib_path, info.dli_fname);
}

bool disabled_by_env() {
  const char* v = getenv("VPROC_DISABLE");
  return v && v[0] == '1' && v[1] == '\0';
}

// Why the table could not be mapped, as a reason for the notice.
void explain_unmapped_table(const ProcessState& st) {
  struct stat sb;
  long r = raw::sys(SYS_newfstatat, AT_FDCWD, st.socket_path, &sb, 0);
  if (raw::failed(r)) {
    diag({"no daemon at ", st.socket_path, " (", errno_text(int(-r)),
          "); running without virtual PIDs"});
    return;
  }
  long fd = raw::sys(SYS_openat, AT_FDCWD, st.table_path, O_RDONLY | O_CLOEXEC);
  if (raw::failed(fd)) {
    diag({"cannot open the process table ", st.table_path, " (", errno_text(int(-fd)),
          "); running without virtual PIDs"});
    return;
  }
  raw::sys(SYS_close, fd);
  diag({st.table_path, " is not a process table of this vproc version; running without virtual PIDs"});
}

// Identity passed by the exec or spawn that created this image. Only trusted
// when it describes this very process: exec keeps the pid (real == getpid);
// spawn could not know the pid, but the parent it names must be ours. A vpid
// of another node is only a guest's that exec'd (state.h).
bool trust_self_env(const SelfEnv& se, const ProcessState& st, long real_pid, long real_ppid) {
  if (!valid_vpid(se.vpid)) return false;
  bool here = home_node_of(VPid{se.vpid}) == st.node_index;
  if (se.real != 0) return long(se.real) == real_pid && (here || se.guest);
  return here && !se.guest && se.parent_real != 0 && long(se.parent_real) == real_ppid;
}

// Registers with the daemon (no or untrusted VPROC_SELF). False: stay inactive.
// `quiet`: an ancestor already said on stderr that the daemon is gone.
bool hello(ProcessState& st, uint32_t vpid_hint, long real_ppid, bool quiet) {
  // The parent as the daemon should record it: its vpid when it is ours.
  uint32_t parent = uint32_t(to_virtual_pid(pid_t(real_ppid)));
  wire::Reply reply;
  int r = round_trip(wire::Hello{wire::kProtocolVersion, vpid_hint, parent, uint32_t(ckpt_signal_number())}, reply);
  if (r) {
    if (!quiet)
      diag({"no daemon at ", st.socket_path, " (", errno_text(-r), "); running without virtual PIDs"});
    return false;
  }
  if (const wire::Error* e = std::get_if<wire::Error>(&reply)) {
    diag({"the daemon at ", st.socket_path, " refused to register this process (", e->message.s,
          "); running without virtual PIDs"});
    return false;
  }
  const wire::HelloOk* ok = std::get_if<wire::HelloOk>(&reply);
  // Another node's vpid only for a guest (state.h).
  bool foreign = ok && home_node_of(VPid{ok->vpid}) != st.node_index;
  if (!ok || !valid_vpid(ok->vpid) || (foreign && !ok->guest)) {
    diag({"the daemon at ", st.socket_path,
          " sent an invalid registration reply; running without virtual PIDs"});
    return false;
  }
  st.self = VPid{ok->vpid};
  st.guest = ok->guest;
  if (ok->guest) {
    // A guest that exec'd without telling the new image (a raw exec): its
    // parent is the one its record names, not its kernel parent (the keeper).
    st.parent = ok->parent;
    st.parent_real = RealPid{};
  } else {
    st.parent = parent;
    st.parent_real = RealPid{uint32_t(real_ppid)};
  }
  if (!install_lease(ok->lease.first, ok->lease.count))
    diag({"the daemon granted an invalid lease; ignoring it"});
  return true;
}

bool run_init() {
  ProcessState& st = state();
  resolve_all_real_fns();

  // VPROC_SELF describes this image only: the program and its children must
  // not see it (exec and spawn set it afresh).
  SelfEnv se;
  const char* self_value = take_env_entry(environ, kSelfEnvName);
  bool have_self = self_value && parse_self_env(self_value, se);

  if (disabled_by_env()) return false;
  find_lib_path(st);
  if (!resolve_socket_path(st.socket_path, sizeof st.socket_path) ||
      !table_path_for(st.socket_path, st.table_path, sizeof st.table_path)) {
    diag({"the daemon socket path is too long (VPROC_SOCKET / XDG_RUNTIME_DIR); running without virtual PIDs"});
    return false;
  }
  const void* base = map_table_readonly(st.table_path);
  if (!base) {
    explain_unmapped_table(st);
    return false;
  }
  st.table = TableView(base);
  st.node_index = st.table.node_index();
  st.link_generation.store(st.table.header().generation.load(std::memory_order_acquire),
                           std::memory_order_relaxed);

  long real_pid = raw::sys(SYS_getpid), real_ppid = raw::sys(SYS_getppid);
  st.self_real = RealPid{uint32_t(real_pid)};
  if (have_self && trust_self_env(se, st, real_pid, real_ppid)) {
    st.self = VPid{se.vpid};
    st.parent = se.parent;
    st.parent_real = RealPid{se.parent_real};
    st.guest = se.guest;  // exec of a guest keeps it one
  } else {
    uint32_t hint = have_self && valid_vpid(se.vpid) ? se.vpid : 0;
    // VPROC_SELF with vpid 0: created by a process that ran without a vpid
    // because the daemon was gone (and said so).
    bool degraded_parent = have_self && se.vpid == 0;
    if (!hello(st, hint, real_ppid, degraded_parent)) return false;
  }
  if (raw::sys(SYS_gettid) == real_pid) t_vtid = st.self.value;
  install_fork_handler();
  ckpt_install();
  return true;
}

__attribute__((constructor(101))) void vproc_constructor() { ensure_init(); }

}  // namespace

bool ensure_init() {
  ProcessState& st = state();
  for (;;) {
    InitState s = st.init.load(std::memory_order_acquire);
    if (s == InitState::Active) return true;
    if (s == InitState::Inactive) return false;
    long tid = raw::sys(SYS_gettid);
    if (s == InitState::Initializing) {
      int owner = st.init_tid.load(std::memory_order_acquire);
      // Called from inside init itself (a wrapper used by dlsym, or a signal
      // handler on that thread): pass through.
      if (owner == tid) return false;
      // A fork child of a process that was initializing on another thread:
      // that thread does not exist here and will never finish.
      if (owner != 0 && raw::sys(SYS_tgkill, raw::sys(SYS_getpid), owner, 0) == -ESRCH) {
        st.init.store(InitState::Inactive, std::memory_order_release);
        return false;
      }
      raw::sys(SYS_sched_yield);
      continue;
    }
    InitState expected = InitState::None;
    if (!st.init.compare_exchange_strong(expected, InitState::Initializing, std::memory_order_acq_rel))
      continue;
    st.init_tid.store(int(tid), std::memory_order_release);
    int saved_errno = errno;  // getenv, dladdr, realpath: the program must not notice
    bool ok = run_init();
    errno = saved_errno;
    st.init.store(ok ? InitState::Active : InitState::Inactive, std::memory_order_release);
    return ok;
  }
}

}  // namespace vproc::lib
