#include "real_fn.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>

#include <atomic>

#include "raw_syscall.h"
#include "state.h"
#include "preload_rules.h"

namespace vproc::lib {
namespace {

[[noreturn]] void die_missing(const char* name) {
  // A single write(2), so the line arrives whole even from several threads.
  char buf[256];
  size_t n = 0;
  for (const char* p : {"vproc: the C library has no '", name, "' (needed by libvproc.so); aborting\n"})
    while (*p && n < sizeof buf - 1) buf[n++] = *p++;
  raw::sys(SYS_write, 2, buf, n);
  abort();
}

}  // namespace

// The list head lives in the constant-initialized ProcessState, so registration
// does not depend on the order in which translation units are initialized.
RealFnBase::RealFnBase(const char* n) : name(n), ptr(nullptr), next(nullptr) {
  // Static initializers of one library run on one thread, but keep the push
  // atomic anyway: it costs nothing and survives a dlopen from another thread.
  RealFnBase** list = &state().real_fns;
  RealFnBase* head = __atomic_load_n(list, __ATOMIC_ACQUIRE);
  do next = head;
  while (!__atomic_compare_exchange_n(list, &head, this, true, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE));
}

void* RealFnBase::get() {
  void* p = __atomic_load_n(&ptr, __ATOMIC_ACQUIRE);
  if (__builtin_expect(p != nullptr, 1)) return p;
  // Only before the constructor ran (another library's constructor calling a
  // wrapper): dlsym is fine there. It may set errno (dlerror state), the
  // program must not notice.
  int saved = errno;
  p = dlsym(RTLD_NEXT, name);
  errno = saved;
  if (!p) die_missing(name);
  __atomic_store_n(&ptr, p, __ATOMIC_RELEASE);
  return p;
}

void resolve_all_real_fns() {
  for (RealFnBase* f = __atomic_load_n(&state().real_fns, __ATOMIC_ACQUIRE); f; f = f->next)
    f->get();
}

}  // namespace vproc::lib
