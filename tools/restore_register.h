// Telling the node daemon that a checkpointed process comes back: the vpid is
// bound to this process (the tool's pid, which the restorer and then the
// restored program keep) before the restorer is exec'd.
#pragma once

#include <cstdint>

#include "cli_context.h"

namespace vproc::tools {

// Registers VPID (child of PARENT_VPID) as this process; MIGRATION is 0 for a
// plain restore, else the migration that brings the process here as a guest.
// Returns 0; throws ToolError (status 1) with the daemon's reason when it
// refuses (e.g. "vpid N is still running (real pid R); ..."), DaemonError
// when it cannot be reached.
int register_restored(CliContext& ctx, uint32_t vpid, uint32_t parent_vpid, uint64_t migration = 0);

}  // namespace vproc::tools
