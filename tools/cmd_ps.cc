// vproc ps: the processes under vproc, of the whole cluster (the node daemon
// asks every node) or of one node.
#include <pwd.h>
#include <time.h>

#include <cstdio>
#include <map>

#include "ps_render.h"
#include "subcommand.h"
#include "tool_error.h"

namespace vproc::tools {
namespace {

constexpr const char kUsage[] =
    "Usage: vproc ps [--json] [--threads] [--node NAME]\n"
    "List the processes under vproc, ordered by virtual PID: those of every node\n"
    "of the cluster when the daemon is part of one (each node is asked; a node\n"
    "that does not answer within a second is named in a warning on stderr and\n"
    "its processes are missing), else those of this node.\n"
    "\n"
    "  --json       print a JSON array of objects {vpid, node, node_index, pid, ppid,\n"
    "               state, uid, start_time_ms, argv, thread, tgid} instead of a table\n"
    "  --threads    also list threads (each after its process; adds a TGID column)\n"
    "  --node NAME  only the processes on node NAME (only that node is asked)\n"
    "\n"
    "Columns: VPID the virtual PID; NODE the node's name; PID the real (kernel) PID\n"
    "on that node; PPID the parent's virtual PID (its real PID if the parent is not\n"
    "under vproc); STATE running/sleeping/stopped/zombie/...; UID the user;\n"
    "START the start time (HH:MM:SS today, else MonDD); CMD the arguments.\n";

// uid -> user name (the number if it has none), asking NSS once per uid.
class UserNames {
 public:
  std::string operator()(uint32_t uid) {
    auto it = cache_.find(uid);
    if (it != cache_.end()) return it->second;
    passwd pw, *found = nullptr;
    char buf[4096];
    std::string name =
        getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found ? found->pw_name : std::to_string(uid);
    return cache_[uid] = name;
  }

 private:
  std::map<uint32_t, std::string> cache_;
};

int run_ps(CliContext& ctx, const std::vector<std::string>& args) {
  bool json = false, threads = false, by_node = false;
  std::string node;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") {
      json = true;
    } else if (a == "--threads") {
      threads = true;
    } else if (a == "--node" || a.rfind("--node=", 0) == 0) {
      if (a == "--node") {
        if (++i == args.size()) throw ToolError(kExitUsage, "option '--node' needs a NAME (see 'vproc ps --help')");
        node = args[i];
      } else {
        node = a.substr(7);
      }
      by_node = true;
    } else {
      throw ToolError(kExitUsage, "unexpected argument '" + a + "' (see 'vproc ps --help')");
    }
  }

  wire::ClusterQuery query;
  query.threads = threads;
  if (by_node) query.node.set(node.c_str());
  wire::ClusterListing listing = ctx.daemon().cluster_list(query);
  for (const wire::NodeState& n : listing.nodes)
    if (!n.reachable) fprintf(stderr, "vproc ps: warning: %s\n", n.message.c_str());
  std::vector<wire::ProcessEntry>& entries = listing.entries;
  if (by_node) std::erase_if(entries, [&](const wire::ProcessEntry& e) { return e.node_name != node; });
  sort_for_display(entries);

  std::string out;
  if (json) {
    out = render_json(entries);
  } else {
    TableOptions opt;
    opt.threads = threads;
    opt.now = time(nullptr);
    UserNames names;
    opt.user_name = [&names](uint32_t uid) { return names(uid); };
    out = render_table(entries, opt);
  }
  fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

const Subcommand kPsCommand{"ps", "list the processes under vproc", kUsage, run_ps};

}  // namespace vproc::tools
