#include "ckpt_migrate.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <variant>

#include "ckpt_daemon_call.h"
#include "ckpt_internal.h"
#include "diag.h"
#include "raw_syscall.h"
#include "remote_children.h"
#include "state.h"
#include "preload_rules.h"

namespace vproc::lib {
namespace {

constexpr char kShadowBeside[] = "../bin/vproc-shadow";  // from libvproc.so's directory
constexpr char kSocketVar[] = "VPROC_SOCKET=";

// The exit status of a process whose vproc-shadow could not be exec'd.
constexpr int kShadowExecFailed = 127;

// The "shadow" verdict: this process ran at its home node and its parent waits
// for this pid, so the pid stays and becomes vproc-shadow, which stands in for
// the process now running at `target` (ShadowHello is the commit point). Its
// environment is VPROC_SOCKET only (no LD_PRELOAD: the shadow is not a vproc
// process); fds 0-2 stay, the shadow closes the rest. It starts with every
// signal blocked (this handler's mask survives execve) and with the program's
// ignored signals still ignored: it sets both itself, and takes the signals
// that arrived meanwhile, still pending, as its first to forward.
[[noreturn]] void become_shadow(const CkptVerdictMsg& v) {
  const ProcessState& st = state();
  char vpid[24], migration[24], target[24];
  format_u64(st.self.value, vpid);
  format_u64(v.migration, migration);
  format_u64(v.target, target);
  char socket_env[sizeof kSocketVar + sizeof st.socket_path];
  memcpy(socket_env, kSocketVar, sizeof kSocketVar - 1);
  copy_cstr(socket_env + sizeof kSocketVar - 1, sizeof st.socket_path, st.socket_path);
  const char* argv[] = {"vproc-shadow", vpid, migration, target, nullptr};
  const char* envp[] = {socket_env, nullptr};
  long r = st.ckpt.shadow_path[0] ? raw::sys(SYS_execve, st.ckpt.shadow_path, argv, envp) : -ENOENT;
  // The process was restored elsewhere and must not run here as well: a
  // process running twice repeats its output and its effects, one that exits
  // is at least seen to fail (by its parent, status 127). The migration is not
  // committed without the shadow's word, so the daemon ends the guest too.
  diag({"vpid ", vpid, " moved to node ", target, " but cannot leave its shadow here (",
        st.ckpt.shadow_path[0] ? st.ckpt.shadow_path : "vproc-shadow not found", ": ", errno_text(int(-r)),
        "); exiting"});
  raw::sys(SYS_exit_group, kShadowExecFailed);
  __builtin_unreachable();
}

// The "quit" verdict for a guest with children of its own here: they would
// lose their parent, so this pid stays theirs as vproc-shadow --linger
// (tools/shadow_linger.h), which reports their changes until the last is
// reaped. The stand-ins of this copy are no use any more (the guest starts
// its own where it runs now). If the exec fails the process just ends: its
// children are orphans, and the guest sees them as never exiting.
[[noreturn]] void linger_or_quit() {
  const ProcessState& st = state();
  if (own_children_live() && st.ckpt.shadow_path[0]) {
    remote_standins_kill();
    char vpid[24];
    format_u64(st.self.value, vpid);
    char socket_env[sizeof kSocketVar + sizeof st.socket_path];
    memcpy(socket_env, kSocketVar, sizeof kSocketVar - 1);
    copy_cstr(socket_env + sizeof kSocketVar - 1, sizeof st.socket_path, st.socket_path);
    const char* argv[] = {"vproc-shadow", "--linger", vpid, nullptr};
    const char* envp[] = {socket_env, nullptr};
    raw::sys(SYS_execve, st.ckpt.shadow_path, argv, envp);
  }
  raw::sys(SYS_exit_group, 0);
  __builtin_unreachable();
}

}  // namespace

void migrate_find_shadow(CkptState& c, const char* lib_path) {
  c.shadow_path[0] = 0;
  const char* env = getenv("VPROC_SHADOW");
  if (env && *env) {
    if (strlen(env) < sizeof c.shadow_path) copy_cstr(c.shadow_path, sizeof c.shadow_path, env);
    return;
  }
  const char* slash = lib_path ? strrchr(lib_path, '/') : nullptr;
  if (!slash) return;
  size_t dir = size_t(slash - lib_path) + 1;
  if (dir + sizeof kShadowBeside > sizeof c.shadow_path) return;
  memcpy(c.shadow_path, lib_path, dir);
  memcpy(c.shadow_path + dir, kShadowBeside, sizeof kShadowBeside);
}

const char* migrate_refusal(const CkptState& c, char* buf, unsigned cap) {
  // A guest is not at its home node (or has its shadow there already): its
  // verdict is never "shadow", and it needs vproc-shadow only to stay with
  // children of its own.
  if (state().guest && !own_children_live()) return nullptr;
  long r = c.shadow_path[0] ? raw::sys(SYS_faccessat, AT_FDCWD, c.shadow_path, X_OK) : -ENOENT;
  if (r == 0) return nullptr;
  copy_cstr(buf, cap, "vproc-shadow, which it leaves at its home node when it migrates, cannot run: ");
  size_t n = strlen(buf);
  copy_cstr(buf + n, cap - n, c.shadow_path[0] ? c.shadow_path : "not found (libvproc.so's ../bin)");
  n = strlen(buf);
  copy_cstr(buf + n, cap - n, ": ");
  n = strlen(buf);
  copy_cstr(buf + n, cap - n, errno_text(int(-r)));
  return buf;
}

void migrate_pass_verdict(const CkptState& c) {
  wire::Reply reply;
  // No timeout: the daemon answers when the migration is decided (it has its
  // own timeouts); a daemon that goes away closes the connection.
  if (ckpt_daemon_call(wire::MigrateWait{c.request_id}, reply, 0) != 0) return;
  const wire::Verdict* v = std::get_if<wire::Verdict>(&reply);
  if (!v) return;  // refused (e.g. no such migration): continue
  CkptVerdictMsg m{kVerdictMagic, uint8_t(v->action), v->target, v->migration};
  raw::sys(SYS_write, c.sync_w, &m, sizeof m);  // EPIPE if the process died: nothing to tell
}

void migrate_await_verdict(int sync_r) {
  CkptVerdictMsg m{};
  long n;
  do n = raw::sys(SYS_read, sync_r, &m, sizeof m);
  while (n == -EINTR);
  if (n != long(sizeof m) || m.magic != kVerdictMagic) return;  // EOF: continue
  switch (wire::VerdictAction(m.action)) {
    case wire::VerdictAction::Shadow:
      become_shadow(m);
    case wire::VerdictAction::Quit:
      // The process runs elsewhere now; quietly, as the kill that would
      // follow, unless its children need it (linger_or_quit).
      linger_or_quit();
    default:
      return;
  }
}

}  // namespace vproc::lib
