#include "cli_context.h"

#include <cstring>

#include "runtime_paths.h"
#include "tool_error.h"

namespace vproc::tools {

std::string CliContext::socket_path() const {
  if (!override_.empty()) return override_;
  char buf[4096];
  if (!resolve_socket_path(buf, sizeof buf)) throw ToolError(kExitUsage, "the default daemon socket path is too long");
  return buf;
}

DaemonClient& CliContext::daemon() {
  if (connected_) return client_;
  std::string path = socket_path();
  if (int err = client_.connect(path, kDaemonTimeoutMs); err != 0)
    throw DaemonError("cannot reach the vproc daemon at " + path + ": " + strerror(err) +
                      " (start one with 'vprocd', or run a program with 'vproc-run')");
  connected_ = true;
  return client_;
}

}  // namespace vproc::tools
