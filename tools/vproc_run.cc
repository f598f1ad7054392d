// vproc-run: run a program with a virtual PID.
//
// It resolves the program, gets a vpid for *itself* from the node daemon
// (Hello), puts libvproc.so into LD_PRELOAD with the identity in VPROC_SELF, and
// execs the program in its own process. So the program is the very process the
// user started: its exit status, stdio, signals, terminal and job control are
// those of a direct run, and no wrapper process stays behind.
#include <dlfcn.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <variant>

#include "ckpt_request.h"
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
    "  --checkpoint-interval SECS\n"
    "                 have the daemon checkpoint PROGRAM every SECS seconds (a\n"
    "                 decimal number) into DIR/vpid-VPID.NNNNNN.vpimg\n"
    "  --checkpoint-dir DIR\n"
    "                 where the periodic images go (must exist and be writable)\n"
    "  --checkpoint-keep N\n"
    "                 keep the N newest periodic images, remove older ones (default 3)\n"
    "  -h, --help     show this help and exit\n"
    "  --version      show the version and exit\n"
    "Options end at the first non-option argument or at '--'.\n"
    "\n"
    "PROGRAM is found like bash finds commands (a name without '/' is searched in $PATH).\n"
    "Environment: VPROC_LIB overrides where libvproc.so is taken from;\n"
    "VPROC_CKPT_SIGNAL the checkpoint signal (default 62, 0: no checkpoints).\n"
    "Exit status: PROGRAM's own; 127 if it was not found; 126 if it cannot be\n"
    "executed; 2 for a usage error; 1 if vproc could not be set up.\n";

struct Options {
  std::string socket;
  bool no_start = false;
  int program_index = 0;  // argv index of PROGRAM
  // Periodic checkpoints (interval_ms 0: none).
  uint32_t interval_ms = 0;
  std::string ckpt_dir;
  uint32_t keep = 3;
  bool keep_given = false;
};

// "--name VALUE" or "--name=VALUE" at argv[i]: true (and `value`, `i` moved
// past it) if argv[i] is that option.
bool option_value(int argc, char** argv, int& i, const std::string& name, std::string& value) {
  std::string a = argv[i];
  if (a.rfind(name + "=", 0) == 0) {
    value = a.substr(name.size() + 1);
  } else if (a == name) {
    if (++i == argc) throw ToolError(kExitUsage, "option '" + name + "' needs a value (see 'vproc-run --help')");
    value = argv[i];
  } else {
    return false;
  }
  return true;
}

uint32_t parse_interval(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  double secs = text.empty() ? 0 : strtod(text.c_str(), &end);
  double ms = secs * 1000;
  if (text.empty() || *end || errno || !(secs > 0) || ms < 1 || ms > 4e9)
    throw ToolError(kExitUsage, "--checkpoint-interval needs a number of seconds greater than 0 (at least "
                                "0.001), not '" + text + "'");
  return uint32_t(ms + 0.5);
}

uint32_t parse_keep(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  unsigned long n = text.empty() ? 0 : strtoul(text.c_str(), &end, 10);
  if (text.empty() || *end || errno || text[0] == '-' || n == 0 || n > 1000000)
    throw ToolError(kExitUsage, "--checkpoint-keep needs a number of images (1 or more), not '" + text + "'");
  return uint32_t(n);
}

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
    } else if (std::string v; option_value(argc, argv, i, "--checkpoint-interval", v)) {
      o.interval_ms = parse_interval(v);
    } else if (option_value(argc, argv, i, "--checkpoint-dir", v)) {
      if (v.empty()) throw ToolError(kExitUsage, "option '--checkpoint-dir' needs a non-empty DIR");
      o.ckpt_dir = v;
    } else if (option_value(argc, argv, i, "--checkpoint-keep", v)) {
      o.keep = parse_keep(v);
      o.keep_given = true;
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
  if (o.interval_ms && o.ckpt_dir.empty())
    throw ToolError(kExitUsage, "--checkpoint-interval needs --checkpoint-dir DIR (where the images go)");
  if (!o.interval_ms && (!o.ckpt_dir.empty() || o.keep_given))
    throw ToolError(kExitUsage, std::string(o.ckpt_dir.empty() ? "--checkpoint-keep" : "--checkpoint-dir") +
                                    " needs --checkpoint-interval SECS");
  return o;
}

std::string absolute(const std::string& p) {
  if (p[0] == '/') return p;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) throw ToolError(1, std::string("cannot resolve the socket path: ") + strerror(errno));
  return std::string(cwd) + "/" + p;
}

// The periodic images' directory, absolute (the daemon has another cwd),
// existing and writable by us: the images are written as the program's user.
std::string checkpoint_dir(const std::string& dir) {
  std::string abs = absolute(dir);
  struct stat st;
  if (stat(abs.c_str(), &st) != 0)
    throw ToolError(kExitUsage, "--checkpoint-dir " + dir + ": " + strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw ToolError(kExitUsage, "--checkpoint-dir " + dir + ": not a directory");
  if (access(abs.c_str(), W_OK | X_OK) != 0)
    throw ToolError(kExitUsage, "--checkpoint-dir " + dir + ": not writable (" + strerror(errno) + ")");
  return abs;
}

// The checkpoint signal the program will have, for the daemon (libvproc's
// ckpt_signal_number() reads the same variable after the exec): 0 none.
uint32_t ckpt_signal_from_env() {
  int sig = parse_ckpt_signal(getenv("VPROC_CKPT_SIGNAL"));
  return sig > 0 ? uint32_t(sig) : 0;
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
  wire::Reply rep = client.call(wire::Hello{wire::kProtocolVersion, 0, uint32_t(parent), ckpt_signal_from_env()});
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

// CheckpointPolicy for our vpid: the daemon checkpoints the program from now on.
void send_policy(DaemonClient& client, uint32_t vpid, const Options& opt, const std::string& dir) {
  wire::CheckpointPolicy p;
  p.vpid = vpid;
  p.interval_ms = opt.interval_ms;
  p.keep = opt.keep;
  p.dir.set(dir.c_str());
  wire::Reply rep = client.call(p);
  if (auto* e = std::get_if<wire::Error>(&rep))
    throw ToolError(1, "the vproc daemon refused periodic checkpoints: " + describe(*e));
  if (!std::holds_alternative<wire::Ok>(rep))
    throw DaemonError("unexpected reply to CheckpointPolicy from the vproc daemon at " + client.socket_path());
}

int run(int argc, char** argv) {
  Options opt = parse_options(argc, argv);
  std::string program = resolve_program(argv[opt.program_index]);
  char** prog_argv = argv + opt.program_index;

  std::string ckpt_dir = opt.interval_ms ? checkpoint_dir(opt.ckpt_dir) : "";

  if (already_under_vproc()) {
    const char* current = getenv("VPROC_SOCKET");
    if (!opt.socket.empty() && (!current || absolute(opt.socket) != current))
      throw ToolError(1, "already running under vproc (daemon at " + std::string(current ? current : "?") +
                             "); cannot move to the daemon at " + opt.socket);
    if (opt.interval_ms) {
      // The library answers getpid() with our vpid, which the program keeps.
      DaemonClient client;
      std::string path = current ? current : socket_path(opt);
      if (int err = client.connect(path, kReplyTimeoutMs); err != 0) unreachable(path, err, true);
      send_policy(client, uint32_t(getpid()), opt, ckpt_dir);
    }
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
    if (opt.interval_ms) send_policy(client, vpid, opt, ckpt_dir);
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
