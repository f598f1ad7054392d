#include "peer_connect.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "peer_handshake.h"
#include "peer_socket.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

Status send_frame(int fd, const Frame& f, int64_t deadline) {
  return send_all(fd, f.data(), f.size() * sizeof(uint64_t), deadline);
}

Status wait_connected(int fd, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - monotonic_ms();
    if (left <= 0) return Status::failure(ETIMEDOUT, strerror(ETIMEDOUT));
    pollfd p{fd, POLLOUT, 0};
    int r = poll(&p, 1, int(left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::failure(errno, strerror(errno));
    if (r == 0) continue;
    int e = connect_result(fd);
    return e ? Status::failure(e, strerror(e)) : Status::success();
  }
}

}  // namespace

std::string node_label(const ClusterConfig& config, uint32_t node) {
  if (node >= config.nodes.size()) return strf("node index %u", node);
  return strf("node %s (%s)", config.nodes[node].name.c_str(), config.nodes[node].address.c_str());
}

Status connect_and_authenticate(const ClusterConfig& config, uint32_t self, uint32_t node, const Frame& open,
                                int timeout_ms, int& fd_out) {
  std::string label = node_label(config, node);
  if (node >= config.nodes.size() || node == self)
    return Status::failure(EINVAL, label + ": not another node of the cluster");
  int64_t deadline = monotonic_ms() + timeout_ms;
  SocketAddress addr;
  Status s = resolve_node(config.nodes[node], addr);
  if (!s.ok()) return Status::failure(s.err, label + " unreachable: " + s.message);
  int fd = -1;
  s = start_connect(addr, fd);
  if (s.ok()) s = wait_connected(fd, deadline);
  if (!s.ok()) {
    if (fd >= 0) close(fd);
    return Status::failure(s.err, label + " unreachable: " + s.message);
  }
  ConnectorHandshake hs(config, self, node);
  Frame in, proof, hello = hs.hello();
  s = send_frame(fd, hello, deadline);
  if (s.ok()) s = receive_frame(fd, kMaxHandshakeFrameBytes, deadline, in);
  if (s.ok()) s = hs.on_challenge(in.data(), in.size() * 8, proof);
  if (s.ok()) s = send_frame(fd, proof, deadline);
  if (s.ok()) s = send_frame(fd, open, deadline);
  if (s.ok()) s = receive_frame(fd, kMaxHandshakeFrameBytes, deadline, in);
  // An EOF instead of the welcome: the listener refused our proof.
  if (s.err == ECONNRESET) s = Status::failure(EACCES, "authentication failed (it closed the connection)");
  if (s.ok()) s = hs.on_welcome(in.data(), in.size() * 8);
  if (!s.ok()) {
    close(fd);
    return Status::failure(s.err, label + ": " + s.message);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  fd_out = fd;
  return Status::success();
}

Status accept_and_authenticate(const ClusterConfig& config, uint32_t self, int fd, int timeout_ms,
                               uint32_t& peer_node, Frame& open_out) {
  int64_t deadline = monotonic_ms() + timeout_ms;
  ListenerHandshake hs(config, self);
  Frame in, out;
  Status s = receive_frame(fd, kMaxHandshakeFrameBytes, deadline, in);
  if (!s.ok()) return s;
  s = hs.on_hello(in.data(), in.size() * 8, out);
  Status sent = send_frame(fd, out, deadline);
  if (!s.ok()) return s;
  if (!sent.ok()) return sent;
  if (!(s = receive_frame(fd, kMaxHandshakeFrameBytes, deadline, in)).ok()) return s;
  if (!(s = hs.on_proof(in.data(), in.size() * 8, out)).ok()) return s;
  if (!(s = receive_frame(fd, kMaxHandshakeFrameBytes, deadline, open_out)).ok()) return s;
  if (!(s = send_frame(fd, out, deadline)).ok()) return s;
  peer_node = hs.peer_node();
  return Status::success();
}

}  // namespace vproc::daemon
