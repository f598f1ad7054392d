#include "vm_child.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include <signal.h>

#include "raw_syscall.h"
#include "preload_rules.h"

namespace vproc::lib {

VmChildSlot* vm_child_claim(VPid v, int (*fn)(void*), void* arg, uint64_t saved_mask) {
  for (VmChildSlot& s : state().vm_children) {
    uint32_t free = 0;
    if (!s.claimed.compare_exchange_strong(free, 1, std::memory_order_acq_rel)) continue;
    s.real.store(0, std::memory_order_relaxed);
    s.vpid = v.value;
    s.fn = fn;
    s.arg = arg;
    s.saved_mask = saved_mask;
    s.env_map.store(0, std::memory_order_relaxed);
    s.env_len = 0;
    return &s;
  }
  return nullptr;
}

int vm_child_entry(void* p) {
  VmChildSlot* s = static_cast<VmChildSlot*>(p);
  s->real.store(uint32_t(raw::sys(SYS_getpid)), std::memory_order_release);
  raw::sys(SYS_rt_sigprocmask, SIG_SETMASK, &s->saved_mask, nullptr, sizeof s->saved_mask);
  return s->fn(s->arg);
}

VmChildSlot* vm_child_self() {
  uint32_t real = uint32_t(raw::sys(SYS_getpid));
  if (real == state().self_real.value) return nullptr;  // the process that owns the state
  for (VmChildSlot& s : state().vm_children)
    if (s.claimed.load(std::memory_order_acquire) && s.real.load(std::memory_order_acquire) == real)
      return &s;
  return nullptr;
}

void vm_child_release(VmChildSlot* s) {
  if (!s) return;
  if (uintptr_t m = s->env_map.exchange(0, std::memory_order_acq_rel)) raw::sys(SYS_munmap, m, s->env_len);
  s->claimed.store(0, std::memory_order_release);
}

void vm_child_reaped(VPid v) {
  if (!v) return;
  for (VmChildSlot& s : state().vm_children)
    if (s.claimed.load(std::memory_order_acquire) && s.vpid == v.value) vm_child_release(&s);
}

}  // namespace vproc::lib
