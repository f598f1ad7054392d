// What `vproc` gives each subcommand: the daemon connection, opened on first
// use, and the exit statuses they share.
#pragma once

#include <string>

#include "daemon_client.h"

namespace vproc::tools {

inline constexpr int kExitFailed = 1;  // the command ran, some of its work failed
inline constexpr int kExitUsage = 2;   // bad arguments; also: daemon unreachable or misbehaving

// Daemon request timeout for the vproc tool.
inline constexpr int kDaemonTimeoutMs = 5000;

class CliContext {
 public:
  // `socket_override`: the --socket value, or "" for the default path.
  explicit CliContext(std::string socket_override) : override_(std::move(socket_override)) {}

  // The daemon's socket path (--socket, else common/runtime_paths.h).
  std::string socket_path() const;
  // A connected client. Throws DaemonError with the message a user needs to
  // fix an unreachable daemon.
  DaemonClient& daemon();

 private:
  std::string override_;
  DaemonClient client_;
  bool connected_ = false;
};

}  // namespace vproc::tools
