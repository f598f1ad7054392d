// One TCP connection between two daemons, driven by the event loop: the
// non-blocking handshake (peer_handshake.h), then framed traffic.
//
// A connector link (we opened it) authenticates, sends Open{control} and then
// carries our requests out and their replies back. A listener link (accepted)
// authenticates the other side, reads its Open, and then either carries its
// requests in (control) or hands the socket over (image, stdio). Nothing from
// an unauthenticated peer reaches the owner; any protocol error closes the link
// with a reason the owner logs.
#pragma once

#include <ev.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster_config.h"
#include "peer_frames.h"
#include "peer_handshake.h"
#include "status.h"

namespace vproc::daemon {

class PeerLink;

// What a link tells its owner. A callback may close the link (close()), not
// destroy it: the owner destroys closed links later, from the loop.
class PeerLinkOwner {
 public:
  virtual ~PeerLinkOwner() = default;
  // Connector: the listener welcomed us. Listener: the connector opened a
  // control link.
  virtual void link_up(PeerLink& link) = 0;
  // A frame on an up control link (requests on a listener link, replies on a
  // connector link), valid during the call.
  virtual void link_frame(PeerLink& link, const void* data, size_t len) = 0;
  // Listener: the connector opened an image or stdio channel. `fd` (blocking
  // mode) is the owner's now; the link is closed.
  virtual void link_channel(PeerLink& link, int fd, const void* open, size_t len) = 0;
  // The link closed (not called for close() by the owner, nor after a hand-off).
  virtual void link_closed(PeerLink& link, const Status& why) = 0;
};

class PeerLink {
 public:
  enum class Role { Connector, Listener };

  // Largest frame on an up link (a process list).
  static constexpr size_t kMaxFrameBytes = 64u << 20;
  // A peer that does not read what we send is cut off beyond this much.
  static constexpr size_t kMaxQueuedBytes = 128u << 20;
  // A handshake (connector: including the TCP connect) must finish in this time.
  static constexpr double kHandshakeSeconds = 5.0;

  // Connector: `fd` is connecting to node `node` (start_connect).
  static std::unique_ptr<PeerLink> connector(struct ev_loop* loop, PeerLinkOwner& owner, const ClusterConfig& config,
                                             uint32_t self, uint32_t node, int fd, uint64_t id);
  // Listener: `fd` was accepted from `remote` (for messages).
  static std::unique_ptr<PeerLink> listener(struct ev_loop* loop, PeerLinkOwner& owner, const ClusterConfig& config,
                                            uint32_t self, int fd, std::string remote, uint64_t id);
  ~PeerLink();
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  uint64_t id() const { return id_; }
  Role role() const { return role_; }
  bool is_up() const { return state_ == State::Up; }
  bool is_closed() const { return state_ == State::Closed; }
  // The peer's node index (a listener knows it once the hello is checked).
  uint32_t node() const { return node_; }
  // "peer 10.77.0.5:41234" (listener) or the node's label (connector).
  const std::string& remote() const { return remote_; }

  // Queues a frame (only on an up link; dropped otherwise).
  void send(const Frame& frame);
  // Closes the socket now, without calling link_closed.
  void close();

 private:
  enum class State { Connecting, AwaitChallenge, AwaitWelcome, AwaitHello, AwaitProof, AwaitOpen, Up, Closed };

  PeerLink(struct ev_loop* loop, PeerLinkOwner& owner, const ClusterConfig& config, Role role, int fd, uint64_t id);
  static void on_io(struct ev_loop* loop, ev_io* w, int revents);
  static void on_timeout(struct ev_loop* loop, ev_timer* w, int revents);

  void readable();
  void writable();
  // Handles buffered frames; false once the link closed.
  bool handle_frames();
  bool handle_handshake_frame(const void* data, size_t len);
  void queue(const Frame& frame);
  void flush();
  void fail(const Status& why);
  void update_write_watch();

  struct ev_loop* loop_;
  PeerLinkOwner& owner_;
  const ClusterConfig& config_;
  Role role_;
  int fd_;
  uint64_t id_;
  uint32_t node_ = UINT32_MAX;
  std::string remote_;
  State state_;
  std::unique_ptr<ConnectorHandshake> connector_hs_;
  std::unique_ptr<ListenerHandshake> listener_hs_;
  FrameBuffer in_;
  std::vector<char> out_;
  size_t out_off_ = 0;
  ev_io read_w_, write_w_;
  ev_timer handshake_timer_;
};

}  // namespace vproc::daemon
