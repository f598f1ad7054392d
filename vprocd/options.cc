#include "options.h"

#include <limits.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runtime_paths.h"
#include "strf.h"
#include "vpid_space.h"

namespace vproc::daemon {
namespace {

bool parse_uint(const std::string& s, uint64_t max, uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + uint64_t(ch - '0');
    if (v > max) return false;
  }
  out = v;
  return true;
}

Status make_absolute(std::string& path, const char* what) {
  if (path.empty()) return Status::failure(EINVAL, strf("%s: empty path", what));
  if (path[0] == '/') return Status::success();
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd))
    return Status::failure(errno, strf("%s: cannot resolve relative path '%s': %s", what, path.c_str(),
                                       strerror(errno)));
  path = std::string(cwd) + "/" + path;
  return Status::success();
}

}  // namespace

const char* usage_text() {
  return "Usage: vprocd [OPTION]...\n"
         "The vproc node daemon: hands out virtual PIDs to the processes of this node,\n"
         "keeps the shared table they translate with, and answers the vproc tools.\n"
         "\n"
         "  --socket PATH       listen on PATH (default: $VPROC_SOCKET, else\n"
         "                      /run/vproc/vprocd.sock for root, else\n"
         "                      $XDG_RUNTIME_DIR/vproc/vprocd.sock or /tmp/vproc-UID/vprocd.sock);\n"
         "                      the table is the same name ending in .table\n"
         "  --node NAME         this node's name (default: the host name)\n"
         "  --node-index N      this node's index, 0..510 (default: the existing table's, or 0)\n"
         "  --cluster FILE      be one node of the cluster FILE describes (lines 'NAME\n"
         "                      ADDRESS:PORT' and 'secret PATH'); --node NAME (default:\n"
         "                      the host name) picks this node's line, whose position\n"
         "                      is the node index; the daemon listens on its ADDRESS:PORT\n"
         "  --foreground        do not detach; log to stderr\n"
         "  --idle-exit SECS    exit after SECS seconds without processes or clients\n"
         "  --log FILE          append a line per event to FILE\n"
         "  --pidfile FILE      write the daemon's pid to FILE\n"
         "  --verbose           log every event, not only errors\n"
         "  --help              show this help and exit\n"
         "  --version           show the version and exit\n"
         "\n"
         "Without --foreground, vprocd detaches and its first process exits 0 once the\n"
         "socket accepts connections (non-zero, with a message, if the daemon cannot\n"
         "start). SIGTERM or SIGINT stop it cleanly; SIGHUP reopens the log file.\n"
         "\n"
         "Exit status: 0 started (or stopped cleanly), 1 error, 2 bad usage,\n"
         "3 another daemon already serves the socket (its pid is in the message).\n";
}

Status parse_options(int argc, char** argv, Options& out) {
  out = Options{};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string name = arg, value;
    bool has_value = false;
    size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    auto need_value = [&]() -> Status {
      if (has_value) return Status::success();
      if (i + 1 >= argc) return Status::failure(EINVAL, strf("option '%s' needs a value", name.c_str()));
      value = argv[++i];
      return Status::success();
    };
    auto no_value = [&]() -> Status {
      if (has_value) return Status::failure(EINVAL, strf("option '%s' takes no value", name.c_str()));
      return Status::success();
    };
    Status s;
    if (name == "--socket") {
      if (!(s = need_value()).ok()) return s;
      if (value.empty()) return Status::failure(EINVAL, "--socket: empty path");
      out.socket_path = value;
    } else if (name == "--node") {
      if (!(s = need_value()).ok()) return s;
      if (value.empty() || value.size() > 63)
        return Status::failure(EINVAL, strf("--node: name must be 1 to 63 characters, got %zu", value.size()));
      for (unsigned char ch : value)
        if (ch <= ' ' || ch == 0x7f)
          return Status::failure(EINVAL, "--node: name must not contain spaces or control characters");
      out.node_name = value;
    } else if (name == "--node-index") {
      if (!(s = need_value()).ok()) return s;
      uint64_t n;
      if (!parse_uint(value, kMaxNodes - 1, n))
        return Status::failure(EINVAL, strf("--node-index: '%s' is not a number in 0..%u", value.c_str(),
                                            kMaxNodes - 1));
      out.node_index = uint32_t(n);
    } else if (name == "--cluster") {
      if (!(s = need_value()).ok()) return s;
      if (value.empty()) return Status::failure(EINVAL, "--cluster: empty path");
      out.cluster_path = value;
    } else if (name == "--foreground") {
      if (!(s = no_value()).ok()) return s;
      out.foreground = true;
    } else if (name == "--idle-exit") {
      if (!(s = need_value()).ok()) return s;
      uint64_t n;
      if (!parse_uint(value, 100u * 365 * 86400, n) || n == 0)
        return Status::failure(EINVAL, strf("--idle-exit: '%s' is not a positive number of seconds",
                                            value.c_str()));
      out.idle_exit_secs = uint32_t(n);
    } else if (name == "--log") {
      if (!(s = need_value()).ok()) return s;
      out.log_path = value;
    } else if (name == "--pidfile") {
      if (!(s = need_value()).ok()) return s;
      out.pidfile = value;
    } else if (name == "--verbose") {
      if (!(s = no_value()).ok()) return s;
      out.verbose = true;
    } else if (name == "--help" || name == "-h") {
      out.help = true;
    } else if (name == "--version") {
      out.version = true;
    } else if (arg.rfind("-", 0) == 0) {
      return Status::failure(EINVAL, strf("unknown option '%s'", arg.c_str()));
    } else {
      return Status::failure(EINVAL, strf("unexpected argument '%s'", arg.c_str()));
    }
  }
  return Status::success();
}

Status complete_options(Options& opts) {
  if (opts.socket_path.empty()) {
    char buf[PATH_MAX];
    if (!default_daemon_socket_path(buf, sizeof buf))
      return Status::failure(ENAMETOOLONG, "the default socket path is too long");
    opts.socket_path = buf;
  }
  Status s = make_absolute(opts.socket_path, "--socket");
  if (!s.ok()) return s;
  if (opts.socket_path.size() >= sizeof(sockaddr_un::sun_path))
    return Status::failure(ENAMETOOLONG, strf("socket path %s is too long (at most %zu bytes)",
                                              opts.socket_path.c_str(), sizeof(sockaddr_un::sun_path) - 1));
  if (!opts.log_path.empty() && !(s = make_absolute(opts.log_path, "--log")).ok()) return s;
  if (!opts.pidfile.empty() && !(s = make_absolute(opts.pidfile, "--pidfile")).ok()) return s;
  if (!opts.cluster_path.empty() && !(s = make_absolute(opts.cluster_path, "--cluster")).ok()) return s;
  if (opts.node_name.empty()) {
    char host[HOST_NAME_MAX + 1] = {};
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) strcpy(host, "localhost");
    opts.node_name = std::string(host).substr(0, 63);
  }
  return Status::success();
}

}  // namespace vproc::daemon
