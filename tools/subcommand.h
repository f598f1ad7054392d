// The subcommands of `vproc` (one cmd_*.cc each) as vproc_main.cc sees them.
#pragma once

#include <string>
#include <vector>

#include "cli_context.h"

namespace vproc::tools {

struct Subcommand {
  const char* name;
  const char* summary;  // one line for `vproc help`
  const char* usage;    // the full text of `vproc NAME --help`
  // Runs with the arguments after NAME. Returns the exit status; throws
  // ToolError for a usage error (status 2) and DaemonError as CliContext does.
  int (*run)(CliContext& ctx, const std::vector<std::string>& args);
};

extern const Subcommand kPsCommand;
extern const Subcommand kKillCommand;
extern const Subcommand kStatusCommand;
extern const Subcommand kCheckpointCommand;
extern const Subcommand kInspectCommand;
extern const Subcommand kRestoreCommand;
extern const Subcommand kMigrateCommand;

}  // namespace vproc::tools
