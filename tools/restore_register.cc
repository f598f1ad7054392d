// Restored{vpid, parent, real, migration}: the daemon binds the vpid to this
// process, which execs the restorer next (keeping its pid) and becomes the
// restored program. The daemon checks that we are `real` (SO_PEERCRED), that
// the vpid is its node's (or, for a guest, that the migration expects it),
// and that no process still runs as it.
#include "restore_register.h"

#include <unistd.h>

#include "tool_error.h"

namespace vproc::tools {

int register_restored(CliContext& ctx, uint32_t vpid, uint32_t parent_vpid, uint64_t migration) {
  DaemonClient& daemon = ctx.daemon();
  wire::Reply rep = daemon.call(wire::Restored{vpid, parent_vpid, uint32_t(getpid()), migration});
  if (std::holds_alternative<wire::Ok>(rep)) return 0;
  if (auto* e = std::get_if<wire::Error>(&rep))
    throw ToolError(kExitFailed, "the vproc daemon refused to give vpid " + std::to_string(vpid) +
                                     " to this process: " + (e->message.s[0] ? e->message.s : describe(*e)));
  throw DaemonError("unexpected reply to Restored from the vproc daemon at " + daemon.socket_path());
}

}  // namespace vproc::tools
