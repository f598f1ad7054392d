// vproc: inspect and signal the processes of a vproc node.
//
//   vproc [--socket PATH] COMMAND [ARGS...]
//
// Each COMMAND lives in its own cmd_*.cc; this file only dispatches.
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

const Subcommand* const kCommands[] = {&kPsCommand,         &kKillCommand,    &kStatusCommand,
                                       &kCheckpointCommand, &kInspectCommand, &kRestoreCommand,
                                       &kMigrateCommand};

void print_usage(FILE* out) {
  fputs("Usage: vproc [--socket PATH] COMMAND [ARGS...]\n"
        "Inspect and signal the processes running under vproc (virtual PIDs).\n"
        "\n"
        "Commands:\n",
        out);
  for (const Subcommand* c : kCommands) fprintf(out, "  %-10s %s\n", c->name, c->summary);
  fputs("  help       show this help; 'vproc help COMMAND' shows a command's usage\n"
        "\n"
        "Options:\n"
        "  --socket PATH  the node daemon's socket (default: $VPROC_SOCKET, else\n"
        "                 /run/vproc/vprocd.sock for root or when it exists, else\n"
        "                 $XDG_RUNTIME_DIR/vproc/vprocd.sock, else /tmp/vproc-UID/vprocd.sock)\n"
        "  -h, --help     show this help\n"
        "  --version      show the version\n"
        "Every command takes --help. Exit status: 0 success, 1 a command's work\n"
        "partly failed (e.g. a kill target), 2 usage error or unreachable daemon.\n",
        out);
}

const Subcommand* find_command(const std::string& name) {
  for (const Subcommand* c : kCommands)
    if (name == c->name) return c;
  return nullptr;
}

[[noreturn]] void unknown_command(const std::string& name) {
  throw ToolError(kExitUsage, "unknown command '" + name + "' (see 'vproc help')");
}

// --help / -h anywhere before a "--" asks for the command's usage.
bool wants_help(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--") return false;
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

int run(int argc, char** argv) {
  std::string socket;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      print_usage(stdout);
      return 0;
    } else if (a == "--version") {
      printf("vproc (vproc) %s, protocol %u\n", VPROC_VERSION, wire::kProtocolVersion);
      return 0;
    } else if (a == "--socket") {
      if (++i == argc) throw ToolError(kExitUsage, "option '--socket' needs a PATH");
      socket = argv[i];
    } else if (a.rfind("--socket=", 0) == 0) {
      socket = a.substr(strlen("--socket="));
    } else {
      throw ToolError(kExitUsage, "unknown option '" + a + "' (see 'vproc --help')");
    }
    if (socket.empty()) throw ToolError(kExitUsage, "option '--socket' needs a non-empty PATH");
  }
  if (i == argc) {
    print_usage(stderr);
    return kExitUsage;
  }
  std::string name = argv[i];
  std::vector<std::string> args(argv + i + 1, argv + argc);

  if (name == "help") {
    if (args.empty()) {
      print_usage(stdout);
      return 0;
    }
    const Subcommand* c = find_command(args[0]);
    if (!c) unknown_command(args[0]);
    fputs(c->usage, stdout);
    return 0;
  }
  const Subcommand* c = find_command(name);
  if (!c) unknown_command(name);
  if (wants_help(args)) {
    fputs(c->usage, stdout);
    return 0;
  }
  CliContext ctx(socket);
  try {
    return c->run(ctx, args);
  } catch (const DaemonError&) {
    throw;
  } catch (const ToolError& e) {
    // A command's own complaint names the command: "vproc kill: ...".
    fprintf(stderr, "vproc %s: %s\n", c->name, e.what());
    return e.status();
  }
}

}  // namespace
}  // namespace vproc::tools

int main(int argc, char** argv) {
  return vproc::tools::run_tool_main("vproc", [&] { return vproc::tools::run(argc, argv); });
}
