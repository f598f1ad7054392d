// The peer handshake in blocking form, for worker threads (an image transfer)
// and tests. Thread-safe: they only read the (immutable) cluster config.
#pragma once

#include <cstdint>
#include <string>

#include "cluster_config.h"
#include "peer_frames.h"
#include "status.h"

namespace vproc::daemon {

// "node beta (10.77.0.2:7400)", the prefix of every message about a peer node.
std::string node_label(const ClusterConfig& config, uint32_t node);

// Connects to `node`, authenticates both ways, sends `open` (an Open frame)
// and waits for the listener's welcome, all within `timeout_ms`. On success
// `fd_out` is a connected socket in blocking mode. Errors name the node:
// "node beta (10.77.0.2:7400) unreachable: Connection refused",
// "node beta (10.77.0.2:7400): authentication failed (...)".
Status connect_and_authenticate(const ClusterConfig& config, uint32_t self, uint32_t node, const Frame& open,
                                int timeout_ms, int& fd_out);

// The listener's side on an accepted socket: the handshake, then the Open
// frame (read exactly: what follows it stays in the socket). `peer_node` is
// the authenticated connector.
Status accept_and_authenticate(const ClusterConfig& config, uint32_t self, int fd, int timeout_ms,
                               uint32_t& peer_node, Frame& open_out);

}  // namespace vproc::daemon
