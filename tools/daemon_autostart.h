// vproc-run's fallback when no daemon listens: start a private one.
#pragma once

#include <string>

namespace vproc::tools {

// Runs `vprocd --idle-exit 30 --socket <socket_path>` (vprocd beside this
// executable, else from $PATH) with stdin/stdout on /dev/null and stderr shared,
// so its own error messages reach the user. vprocd daemonizes; its first process
// exits 0 once the socket listens, so waiting for that process (at most
// `timeout_ms`) is waiting for readiness. Throws ToolError(1, ...) if vprocd is
// missing, fails or does not answer in time. A non-zero exit may also mean that
// another vproc-run started a daemon first: the caller just connects again.
void start_private_daemon(const std::string& socket_path, int timeout_ms);

// The vprocd executable that start_private_daemon would run, or "".
std::string find_vprocd();

}  // namespace vproc::tools
