// Process attributes that survive execve, set by `vproc restore` to the
// checkpointed values before it execs the restorer: working directory, umask,
// resource limits, personality (PITFALLS 22, 23).
#pragma once

#include "image_model.h"

namespace vproc::tools {

// chdir to the saved cwd; throws ToolError (status 1) if it is gone.
void restore_cwd(const image::ProcessInfo& p);

// umask, personality and soft limits. A hard limit cannot be raised without
// privilege: it stays, the soft limit is capped by it, and a warning on
// stderr says so (the process runs, with less). Lowered hard limits are
// applied: they are what the process had.
void restore_limits_and_mode(const image::ProcessInfo& p);

}  // namespace vproc::tools
