#include "remote_children.h"

#include <signal.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "ckpt_internal.h"
#include "diag.h"
#include "raw_syscall.h"
#include "state.h"
#include "preload_rules.h"

namespace vproc::lib {
namespace {

// child vpid (high 32) | its stand-in's real pid (low 32, 0: none); 0 = empty.
std::atomic<uint64_t> g_remote[kMaxRemoteChildren];
// The live children at the last checkpoint (remote_children_note).
uint32_t g_noted[kMaxRemoteChildren];
int g_noted_count = 0;

constexpr uint64_t pack(VPid v, uint32_t real) { return uint64_t{v.value} << 32 | real; }
constexpr VPid vpid_in(uint64_t w) { return VPid{uint32_t(w >> 32)}; }
constexpr uint32_t real_in(uint64_t w) { return uint32_t(w); }

bool known(VPid v) {
  for (auto& s : g_remote)
    if (vpid_in(s.load(std::memory_order_acquire)) == v) return true;
  return false;
}

void add(VPid v) {
  if (!v || known(v)) return;
  for (auto& s : g_remote) {
    uint64_t empty = 0;
    if (s.compare_exchange_strong(empty, pack(v, 0), std::memory_order_acq_rel)) return;
  }
  char num[24];
  diag({"child ", format_u64(v.value, num), " stays behind, but this process cannot wait for it: more than 64 "
        "children left behind"});
}

constexpr char kSocketVar[] = "VPROC_SOCKET=";

// vproc-shadow --child PARENT CHILD GUEST, a child of this process. Its real
// pid, or 0.
uint32_t start_standin(VPid child) {
  ProcessState& st = state();
  const char* path = st.ckpt.shadow_path;
  char parent[24], kid[24], guest[24];
  format_u64(st.self.value, parent);
  format_u64(child.value, kid);
  format_u64(uint64_t(raw::sys(SYS_getpid)), guest);
  char socket_env[sizeof kSocketVar + sizeof st.socket_path];
  memcpy(socket_env, kSocketVar, sizeof kSocketVar - 1);
  copy_cstr(socket_env + sizeof kSocketVar - 1, sizeof st.socket_path, st.socket_path);
  const char* argv[] = {"vproc-shadow", "--child", parent, kid, guest, nullptr};
  const char* envp[] = {socket_env, nullptr};
  long pid = raw::sys(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    long r = path[0] ? raw::sys(SYS_execve, path, argv, envp) : -ENOENT;
    diag({"cannot start the stand-in for child ", kid, " (", path[0] ? path : "vproc-shadow not found", ": ",
          errno_text(int(-r)), "): it is seen to exit with status 127"});
    raw::sys(SYS_exit_group, 127);
  }
  return pid > 0 ? uint32_t(pid) : 0;
}

}  // namespace

void remote_children_note() {
  g_noted_count = 0;
  child_table().for_each([](ChildEntry c) {
    if (!c.reaped && g_noted_count < kMaxRemoteChildren) g_noted[g_noted_count++] = c.vpid.value;
  });
}

void remote_children_adopt() {
  // Only a guest's children stayed behind; a plain restore's image had none
  // (the checkpoint refuses them: ckpt_children_policy.h).
  if (state().guest)
    for (int i = 0; i < g_noted_count; ++i) add(VPid{g_noted[i]});
  g_noted_count = 0;
  // The stand-ins of the image's time were children of another process.
  for (auto& s : g_remote) {
    uint64_t w = s.load(std::memory_order_acquire);
    if (!w) continue;
    s.store(pack(vpid_in(w), start_standin(vpid_in(w))), std::memory_order_release);
  }
}

VPid remote_child_of_standin(RealPid r) {
  if (!r) return VPid{};
  for (auto& s : g_remote) {
    uint64_t w = s.load(std::memory_order_acquire);
    if (w && real_in(w) == r.value) return vpid_in(w);
  }
  return VPid{};
}

RealPid remote_standin_of(VPid v) {
  if (!v) return RealPid{};
  for (auto& s : g_remote) {
    uint64_t w = s.load(std::memory_order_acquire);
    if (w && vpid_in(w) == v) return RealPid{real_in(w)};
  }
  return RealPid{};
}

void remote_child_reaped(VPid v) {
  for (auto& s : g_remote) {
    uint64_t w = s.load(std::memory_order_acquire);
    if (w && vpid_in(w) == v) s.compare_exchange_strong(w, 0, std::memory_order_acq_rel);
  }
}

int remote_standin_count() {
  int n = 0;
  for (auto& s : g_remote)
    if (real_in(s.load(std::memory_order_acquire))) ++n;
  return n;
}

bool own_children_live() {
  bool live = false;
  child_table().for_each([&live](ChildEntry c) { live = live || !c.reaped; });
  return live;
}

void remote_standins_kill() {
  for (auto& s : g_remote)
    if (uint32_t r = real_in(s.load(std::memory_order_acquire))) raw::sys(SYS_kill, r, SIGKILL);
}

}  // namespace vproc::lib
