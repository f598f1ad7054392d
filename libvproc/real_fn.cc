#include "real_fn.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>

#include <initializer_list>

#include "raw_syscall.h"
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

// The linker collects every VPROC_REAL's pointer into this section and
// defines its bounds.
extern "C" RealFnBase* const __start_vproc_real_fns[] __attribute__((visibility("hidden")));
extern "C" RealFnBase* const __stop_vproc_real_fns[] __attribute__((visibility("hidden")));

void resolve_all_real_fns() {
  for (RealFnBase* const* f = __start_vproc_real_fns; f < __stop_vproc_real_fns; ++f) (*f)->get();
}

}  // namespace vproc::lib
