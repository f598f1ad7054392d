#include "exec_env.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "raw_syscall.h"
#include "state.h"
#include "vm_child.h"
#include "vpid_space.h"
#include "preload_rules.h"

namespace vproc::lib {
namespace {

long map_anon(size_t len) {
  return raw::sys(SYS_mmap, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

}  // namespace

const SelfEnv* exec_self(SelfEnv& s) {
  ProcessState& st = state();
  long real = raw::sys(SYS_getpid);
  if (real != long(st.self_real.value)) {
    // A child sharing our memory (vm_child.h): its own vpid, us as its parent;
    // vpid 0 (register with the daemon) if it was not created by our clone().
    VmChildSlot* c = vm_child_self();
    s = SelfEnv{c ? c->vpid : 0, uint32_t(real), st.self.value, st.self_real.value};
    return &s;
  }
  // Degraded (no vpid): vpid 0 tells the new image that an ancestor already said
  // so on stderr; it registers if a daemon is back, and stays quiet if not.
  // A guest stays one: the new image must not take its kernel parent (the
  // keeper) for its parent.
  uint32_t v = valid_vpid(st.self.value) ? st.self.value : 0;
  s = SelfEnv{v, st.self_real.value, st.parent, st.parent_real.value, st.guest && v != 0};
  return &s;
}

int exec_env_build(char* const* envp, const SelfEnv* self, ExecEnv& out) {
  ProcessState& st = state();
  char self_value[kSelfEnvValueMax];
  if (self) format_self_env(*self, self_value);
  InjectSpec spec;
  spec.lib_path = st.lib_path[0] ? st.lib_path : nullptr;
  spec.socket_path = st.socket_path;
  spec.self_value = self ? self_value : nullptr;
  const char* const* in = const_cast<const char* const*>(envp);
  size_t len = injected_env_bytes(in, spec);
  long m = map_anon(len);
  if (raw::failed(m)) return int(m);
  out.map = reinterpret_cast<void*>(m);
  out.len = len;
  out.envp = build_injected_env(in, spec, out.map, len);
  if (!out.envp) {  // cannot happen: the size came from the same input
    exec_env_release(out);
    return -EINVAL;
  }
  // In a child sharing our memory, a successful exec leaves the mapping in our
  // address space: its slot keeps it for us to unmap.
  if (VmChildSlot* c = vm_child_self()) {
    c->env_len = len;
    c->env_map.store(reinterpret_cast<uintptr_t>(out.map), std::memory_order_release);
  }
  return 0;
}

void exec_env_release(ExecEnv& env) {
  if (!env.map) return;
  if (VmChildSlot* c = vm_child_self()) {
    uintptr_t ours = reinterpret_cast<uintptr_t>(env.map);
    c->env_map.compare_exchange_strong(ours, 0, std::memory_order_acq_rel);
  }
  raw::sys(SYS_munmap, env.map, env.len);  // raw: errno untouched
  env = ExecEnv{};
}

int argvec_alloc(size_t count, ArgVec& out) {
  size_t len = (count + 1) * sizeof(char*);
  long m = map_anon(len);
  if (raw::failed(m)) return int(m);
  out.map = reinterpret_cast<void*>(m);
  out.len = len;
  out.argv = static_cast<char**>(out.map);
  return 0;
}

void argvec_release(ArgVec& v) {
  if (v.map) raw::sys(SYS_munmap, v.map, v.len);
  v = ArgVec{};
}

}  // namespace vproc::lib
