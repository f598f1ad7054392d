// Access to the next definition of a libc function (the one we wrap).
//
// Each RealFn is resolved with dlsym(RTLD_NEXT) during the library constructor
// (resolve_all_real_fns), because dlsym is not async-signal-safe; a RealFn used
// before that (from another library's constructor) resolves itself on first use.
//
// Another library's constructor may run before ours, and even before our
// static initializers: so a RealFn is constant-initialized (its name is there
// from load time, no constructor has to run), and the list of all of them is
// a linker section (vproc_real_fns) of pointers, not built by code at startup.
#pragma once

#include <dlfcn.h>

namespace vproc::lib {

struct RealFnBase {
  const char* name;
  void* ptr = nullptr;
  explicit constexpr RealFnBase(const char* n) : name(n) {}
  void* get();  // resolves on demand; aborts with a clear message if missing
};

template <typename F>
struct RealFn : RealFnBase {
  using RealFnBase::RealFnBase;
  template <typename... A>
  auto operator()(A... a) {
    return reinterpret_cast<F*>(get())(a...);
  }
};

// Resolves every RealFn of the library (called once from the constructor).
void resolve_all_real_fns();

}  // namespace vproc::lib

// decltype(::name) drops glibc's nonnull/leaf attributes, which is harmless for
// a function pointer type; GCC warns about it for every such RealFn.
#pragma GCC diagnostic ignored "-Wignored-attributes"

// Declares the real `name` with the prototype of the libc declaration in scope,
// and lists it in the vproc_real_fns section.
#define VPROC_REAL(name)                                                                 \
  static constinit ::vproc::lib::RealFn<decltype(::name)> real_##name{#name};            \
  [[gnu::used, gnu::section("vproc_real_fns")]] static ::vproc::lib::RealFnBase* const \
      real_##name##_listed = &real_##name
