// vproc status: is the node daemon up, and what does it serve.
#include <cstdio>

#include "subcommand.h"
#include "tool_error.h"

namespace vproc::tools {
namespace {

constexpr const char kUsage[] =
    "Usage: vproc status\n"
    "Ask the node daemon (Ping) and print its pid, socket, node, protocol version\n"
    "and the number of processes it tracks.\n"
    "Exit status: 0 if the daemon answered, 2 if it cannot be reached.\n";

int run_status(CliContext& ctx, const std::vector<std::string>& args) {
  if (!args.empty()) throw ToolError(kExitUsage, "unexpected argument '" + args[0] + "' (see 'vproc status --help')");
  DaemonClient& d = ctx.daemon();
  wire::Reply rep = d.call(wire::Ping{});
  if (auto* e = std::get_if<wire::Error>(&rep))
    throw DaemonError("the vproc daemon at " + d.socket_path() + " refused Ping: " + describe(*e));
  auto* p = std::get_if<wire::Pong>(&rep);
  if (!p) throw DaemonError("unexpected reply to Ping from the vproc daemon at " + d.socket_path());
  printf("daemon:    running, pid %u\n", p->daemon_pid);
  printf("socket:    %s\n", d.socket_path().c_str());
  printf("node:      %s (index %u)\n", p->node_name.s, p->node_index);
  if (p->protocol == wire::kProtocolVersion)
    printf("protocol:  %u\n", p->protocol);
  else
    printf("protocol:  %u (this tool speaks %u)\n", p->protocol, wire::kProtocolVersion);
  printf("processes: %u\n", p->processes);
  return 0;
}

}  // namespace

const Subcommand kStatusCommand{"status", "show whether the node daemon runs, and what it serves", kUsage,
                                run_status};

}  // namespace vproc::tools
