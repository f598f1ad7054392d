// migrate: `vproc migrate` under the name the cluster's users know it by.
//
//   migrate [--socket PATH] [--embed-files] VPID HOST
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "subcommand.h"
#include "tool_error.h"
#include "tool_main.h"
#include "wire.h"

namespace vproc::tools {
namespace {

int run(int argc, char** argv) {
  std::string socket;
  std::vector<std::string> args;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (options_done) {
      args.push_back(a);
    } else if (a == "-h" || a == "--help") {
      fputs(kMigrateCommand.usage, stdout);
      return 0;
    } else if (a == "--version") {
      printf("migrate (vproc) %s, protocol %u\n", VPROC_VERSION, wire::kProtocolVersion);
      return 0;
    } else if (a == "--socket" || a.rfind("--socket=", 0) == 0) {
      if (a == "--socket") {
        if (++i == argc) throw ToolError(kExitUsage, "option '--socket' needs a PATH");
        socket = argv[i];
      } else {
        socket = a.substr(strlen("--socket="));
      }
      if (socket.empty()) throw ToolError(kExitUsage, "option '--socket' needs a non-empty PATH");
    } else {
      options_done = a == "--";
      args.push_back(a);
    }
  }
  CliContext ctx(socket);
  return kMigrateCommand.run(ctx, args);
}

}  // namespace
}  // namespace vproc::tools

int main(int argc, char** argv) {
  return vproc::tools::run_tool_main("migrate", [&] { return vproc::tools::run(argc, argv); });
}
