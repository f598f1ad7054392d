// TCP sockets between nodes: resolving a node's address, listening on it,
// connecting to it, and naming socket addresses in messages.
#pragma once

#include <sys/socket.h>

#include <string>

#include "cluster_config.h"
#include "status.h"

namespace vproc::daemon {

struct SocketAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// The node's first address. A literal needs no lookup; a host name is looked
// up with getaddrinfo (which may block on DNS: /etc/hosts names are quick).
Status resolve_node(const ClusterNode& node, SocketAddress& out);

// "10.77.0.5:41234", "[fd00::5]:41234".
std::string address_text(const sockaddr* sa, socklen_t len);

// A non-blocking listening socket on the node's address (SO_REUSEADDR).
Status listen_on(const ClusterNode& node, int& fd_out);

// Starts a non-blocking connect: fd_out is connecting (EINPROGRESS) or
// connected; the caller waits for writability and asks connect_result().
Status start_connect(const SocketAddress& to, int& fd_out);
// 0 once the connect succeeded, else its errno (SO_ERROR).
int connect_result(int fd);

// TCP_NODELAY (requests are small and latency-bound) and keepalive probes that
// notice a dead peer within about 20 s of silence.
void tune_peer_socket(int fd);

}  // namespace vproc::daemon
