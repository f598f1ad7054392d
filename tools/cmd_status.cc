// vproc status: is the node daemon up, and what does it serve.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "subcommand.h"
#include "tool_error.h"

namespace vproc::tools {
namespace {

constexpr const char kUsage[] =
    "Usage: vproc status\n"
    "Ask the node daemon (Ping) and print its pid, socket, node, protocol version\n"
    "and the number of processes it tracks; for a daemon in a cluster, also each\n"
    "node and whether it answers (each is asked, within a second).\n"
    "Exit status: 0 if the daemon answered, 2 if it cannot be reached.\n";

// A node's line: its message without the "node NAME (ADDRESS)" it starts with.
std::string why_unreachable(const wire::NodeState& n) {
  std::string prefix = "node " + n.name + " (" + n.address + ")";
  std::string m = n.message;
  if (m.rfind(prefix, 0) == 0) m = m.substr(prefix.size());
  for (const char* lead : {" unreachable: ", ": "})
    if (m.rfind(lead, 0) == 0) return m.substr(strlen(lead));
  return m;
}

void print_cluster(const wire::ClusterListing& l) {
  printf("cluster:   %zu nodes\n", l.nodes.size());
  size_t name_w = 4, addr_w = 7;
  for (const wire::NodeState& n : l.nodes) {
    name_w = std::max(name_w, n.name.size());
    addr_w = std::max(addr_w, n.address.size());
  }
  for (const wire::NodeState& n : l.nodes) {
    std::string state;
    if (!n.reachable) state = "unreachable: " + why_unreachable(n);
    else state = std::string(n.self ? "this node, " : "reachable, ") + std::to_string(n.processes) +
                 (n.processes == 1 ? " process" : " processes");
    printf("  %-3u %-*s  %-*s  %s\n", n.index, int(name_w), n.name.c_str(), int(addr_w), n.address.c_str(),
           state.c_str());
  }
}

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
  wire::ClusterQuery q;
  q.nodes_only = true;
  wire::ClusterListing l = d.cluster_list(q);
  if (!l.nodes.empty()) print_cluster(l);
  return 0;
}

}  // namespace

const Subcommand kStatusCommand{"status", "show whether the node daemon runs, and what it serves", kUsage,
                                run_status};

}  // namespace vproc::tools
