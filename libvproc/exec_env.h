// The environment handed to a new image (exec, posix_spawn), built in its own
// anonymous mapping: exec is often called in the child of a multi-threaded
// program, where malloc may be locked forever.
#pragma once

#include <cstddef>

#include "env_inject.h"

namespace vproc::lib {

struct ExecEnv {
  char** envp = nullptr;
  void* map = nullptr;
  size_t len = 0;
};

// Builds `envp` (nullptr = empty) plus our LD_PRELOAD, VPROC_SOCKET and, when
// `self` is given, VPROC_SELF. Returns 0 or -errno.
int exec_env_build(char* const* envp, const SelfEnv* self, ExecEnv& out);

// The identity this process passes through its own exec (same pid). Without a
// vpid (degraded) the vpid field is 0: the new image then asks the daemon.
const SelfEnv* exec_self(SelfEnv& storage);

// Unmaps it; errno is kept (called after a failed exec, whose errno matters).
void exec_env_release(ExecEnv& env);

// The same for an argument vector collected from execl-style varargs.
struct ArgVec {
  char** argv = nullptr;
  void* map = nullptr;
  size_t len = 0;
};
int argvec_alloc(size_t count, ArgVec& out);  // room for count pointers + NULL
void argvec_release(ArgVec& v);

}  // namespace vproc::lib
