// vproc-run: run a program with a virtual PID.
//
// It resolves the program, gets a vpid for *itself* from the node daemon
// (Hello), puts libvproc.so into LD_PRELOAD with the identity in VPROC_SELF, and
// execs the program in its own process. So the program is the very process the
// user started: its exit status, stdio, signals, terminal and job control are
// those of a direct run, and no wrapper process stays behind.
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <variant>

#include "daemon_autostart.h"
#include "daemon_client.h"
#include "libvproc_lookup.h"
#include "program_env.h"
#include "program_exec.h"
#include "runtime_paths.h"
#include "tool_error.h"
#include "vpid_space.h"
#include "wire.h"

extern char** environ;

namespace vproc::tools {
namespace {

constexpr int kReplyTimeoutMs = 2000;
constexpr int kDaemonStartTimeoutMs = 10000;
constexpr int kExitUsage = 2;

constexpr const char kUsage[] =
    "Usage: vproc-run [OPTIONS] [--] PROGRAM [ARGS...]\n"
    "Run PROGRAM with a virtual PID. vproc-run execs PROGRAM in its own process,\n"
    "so exit status, stdio, signals and job control are those of a direct run.\n"
    "\n"
    "Options:\n"
    "  --socket PATH  the node daemon's socket (default: $VPROC_SOCKET, else\n"
    "                 /run/vproc/vprocd.sock for root or when it exists, else\n"
    "                 $XDG_RUNTIME_DIR/vproc/vprocd.sock, else /tmp/vproc-UID/vprocd.sock)\n"
    "  --no-start     fail if no daemon listens (default: start a private one,\n"
    "                 'vprocd --idle-exit 30 --socket PATH')\n"
    "  -h, --help     show this help and exit\n"
    "  --version      show the version and exit\n"
    "Options end at the first non-option argument or at '--'.\n"
    "\n"
    "PROGRAM is found like bash finds commands (a name without '/' is searched in $PATH).\n"
    "Environment: VPROC_LIB overrides where libvproc.so is taken from.\n"
    "Exit status: PROGRAM's own; 127 if it was not found; 126 if it cannot be\n"
    "executed; 2 for a usage error; 1 if vproc could not be set up.\n";

struct Options {
  std::string socket;
  bool no_start = false;
  int program_index = 0;  // argv index of PROGRAM
};

Options parse_options(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.empty() || a[0] != '-' || a == "-") break;
    if (a == "-h" || a == "--help") {
      fputs(kUsage, stdout);
      exit(0);
    } else if (a == "--version") {
      printf("vproc-run (vproc) %s, protocol %u\n", VPROC_VERSION, wire::kProtocolVersion);
      exit(0);
    } else if (a == "--no-start") {
      o.no_start = true;
    } else if (a == "--socket" || a.rfind("--socket=", 0) == 0) {
      if (a == "--socket") {
        if (++i == argc) throw ToolError(kExitUsage, "option '--socket' needs a PATH (see 'vproc-run --help')");
        o.socket = argv[i];
      } else {
        o.socket = a.substr(strlen("--socket="));
      }
      if (o.socket.empty()) throw ToolError(kExitUsage, "option '--socket' needs a non-empty PATH");
    } else {
      throw ToolError(kExitUsage, "unknown option '" + a + "' (see 'vproc-run --help')");
    }
  }
  if (i >= argc) throw ToolError(kExitUsage, "no PROGRAM given (see 'vproc-run --help')");
  o.program_index = i;
  return o;
}

std::string absolute(const std::string& p) {
  if (p[0] == '/') return p;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) throw ToolError(1, std::string("cannot resolve the socket path: ") + strerror(errno));
  return std::string(cwd) + "/" + p;
}

std::string socket_path(const Options& o) {
  if (!o.socket.empty()) return absolute(o.socket);
  char buf[4096];
  if (!resolve_socket_path(buf, sizeof buf)) throw ToolError(1, "the default daemon socket path is too long");
  return absolute(buf);
}

// This process already runs under an active libvproc (vproc-run started from a
// program under vproc): it has a vpid, and the library's exec wrapper carries it
// to the program. A second Hello would give the program a second identity.
bool already_under_vproc() {
  using IsActive = int();
  auto* fn = reinterpret_cast<IsActive*>(dlsym(RTLD_DEFAULT, "vproc_is_active"));
  return fn && fn() == 1;
}

[[noreturn]] void unreachable(const std::string& path, int err, bool no_start) {
  throw DaemonError("cannot reach the vproc daemon at " + path + ": " + strerror(err) +
                    (no_start ? " (start one with 'vprocd', or drop --no-start)"
                              : " (start one with 'vprocd --socket " + path + "')"));
}

void connect_or_start(DaemonClient& client, const std::string& path, bool no_start) {
  int err = client.connect(path, kReplyTimeoutMs);
  if (err == 0) return;
  if (no_start || (err != ENOENT && err != ECONNREFUSED)) unreachable(path, err, no_start);
  try {
    start_private_daemon(path, kDaemonStartTimeoutMs);
  } catch (const ToolError&) {
    // Another vproc-run may have won the race to start it; only then is this fine.
    if (client.connect(path, kReplyTimeoutMs) == 0) return;
    throw;
  }
  if ((err = client.connect(path, kReplyTimeoutMs)) != 0) unreachable(path, err, no_start);
}

// Hello for this process: the daemon registers our pid (known to it by
// SO_PEERCRED) and answers with our vpid, which survives the exec below.
uint32_t hello(DaemonClient& client, pid_t parent) {
  wire::Reply rep = client.call(wire::Hello{wire::kProtocolVersion, 0, uint32_t(parent)});
  if (auto* e = std::get_if<wire::Error>(&rep))
    throw DaemonError("the vproc daemon at " + client.socket_path() + " refused to register this process: " +
                      describe(*e));
  auto* ok = std::get_if<wire::HelloOk>(&rep);
  if (!ok) throw DaemonError("unexpected reply to Hello from the vproc daemon at " + client.socket_path());
  if (!valid_vpid(ok->vpid))
    throw DaemonError("the vproc daemon at " + client.socket_path() + " assigned an invalid vpid " +
                      std::to_string(ok->vpid));
  return ok->vpid;
}

int run(int argc, char** argv) {
  Options opt = parse_options(argc, argv);
  std::string program = resolve_program(argv[opt.program_index]);
  char** prog_argv = argv + opt.program_index;

  if (already_under_vproc()) {
    const char* current = getenv("VPROC_SOCKET");
    if (!opt.socket.empty() && (!current || absolute(opt.socket) != current))
      throw ToolError(1, "already running under vproc (daemon at " + std::string(current ? current : "?") +
                             "); cannot move to the daemon at " + opt.socket);
    exec_program(program, prog_argv, environ);
  }

  std::string lib = find_libvproc();
  std::string path = socket_path(opt);
  // A parent under vproc would have passed the library on to us (see
  // already_under_vproc), so this is a real pid, and what the program's
  // getppid() will show.
  pid_t parent = getppid();
  uint32_t vpid;
  {
    DaemonClient client;
    connect_or_start(client, path, opt.no_start);
    vpid = hello(client, parent);
  }  // the connection closes before the exec
  std::string self = std::to_string(vpid) + ":" + std::to_string(getpid()) + ":" + std::to_string(parent) + ":" +
                     std::to_string(parent);
  std::vector<std::string> env = program_environment(environ, lib, path, self);
  std::vector<char*> envp = c_strings(env);
  exec_program(program, prog_argv, envp.data());
}

}  // namespace
}  // namespace vproc::tools

int main(int argc, char** argv) {
  try {
    return vproc::tools::run(argc, argv);
  } catch (const vproc::tools::DaemonError& e) {
    fprintf(stderr, "vproc-run: %s\n", e.what());
    return 1;
  } catch (const vproc::tools::ToolError& e) {
    fprintf(stderr, "vproc-run: %s\n", e.what());
    return e.status();
  } catch (const std::exception& e) {
    fprintf(stderr, "vproc-run: %s\n", e.what());
    return 1;
  }
}
