// The cluster as the rest of the daemon sees it (docs/cluster.md, "Peer
// transport API"): the nodes, requests to other nodes with their replies,
// handlers for requests from other nodes, and the hand-off of image/stdio
// connections.
//
// Everything but open_channel() runs on the event loop's thread. Callbacks
// never run inside the call that registers them (a reply callback runs from
// the loop even when the request fails at once), so a caller may defer a
// client's reply and then be answered.
#pragma once

#include <ev.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster_config.h"
#include "logger.h"
#include "peer.capnp.h"
#include "peer_link.h"
#include "status.h"

namespace vproc::daemon {

// Names one request received from another node, for its (possibly later) reply.
struct PeerCall {
  uint64_t link = 0;     // the link it came on (0: from this node itself)
  uint64_t id = 0;       // the requester's id
  uint32_t from = 0;     // the requesting node's index
};

class Cluster : private PeerLinkOwner {
 public:
  using FillRequest = std::function<void(peer::PeerRequest::Builder)>;
  using FillReply = std::function<void(peer::PeerReply::Builder)>;
  using FillOpen = std::function<void(peer::Open::Builder)>;
  // `s` is the other node's error reply, or the transport's error: EHOSTUNREACH
  // (cannot connect, authentication failed, connection lost) or ETIMEDOUT (no
  // reply in time), its message naming the node and the cause. `reply` is
  // meaningful only when s.ok(), and only during the call.
  using ReplyCallback = std::function<void(const Status& s, peer::PeerReply::Reader reply)>;
  // `req` is valid during the call only: copy what a later reply needs.
  using Handler = std::function<void(const PeerCall& call, peer::PeerRequest::Reader req)>;
  // `fd` (blocking) is the hook's to close.
  using ChannelHook = std::function<void(int fd, uint32_t from, peer::Open::Reader open)>;

  // Backoff between attempts to reach a node that failed. A request made
  // during a backoff waits for the next attempt if that comes before its
  // timeout, else fails at once with the last attempt's error.
  static constexpr double kMinBackoff = 0.2, kMaxBackoff = 5.0;

  Cluster(struct ev_loop* loop, const ClusterConfig& config, uint32_t self, Logger& log);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Binds this node's address (errors: the port is taken, the address is not
  // this host's) and starts accepting.
  Status start();
  // Closes every link and fails the requests in flight.
  void stop();

  // --- the nodes ---
  uint32_t node_count() const { return uint32_t(config_.nodes.size()); }
  uint32_t self() const { return self_; }
  int index_of(const std::string& name) const { return config_.index_of(name); }
  const std::string& name_of(uint32_t node) const { return config_.nodes.at(node).name; }
  // "node beta (10.77.0.2:7400)"
  std::string label(uint32_t node) const;
  const ClusterConfig& config() const { return config_; }

  // --- requests to a node (this node too: answered by its own handlers) ---
  // `fill` sets the request's union member (the id is set here). `done` runs
  // exactly once: with the reply, the other node's error, or a transport error
  // after at most `timeout_s` ("node beta (10.77.0.2:7400) unreachable:
  // Connection refused").
  void request(uint32_t node, double timeout_s, const FillRequest& fill, ReplyCallback done);

  // --- requests from other nodes ---
  // The handler of one request kind; it answers with reply()/reply_error(),
  // now or later. Kinds without a handler are answered ENOSYS.
  void handle(peer::PeerRequest::Which kind, Handler handler);
  void reply(const PeerCall& call, const FillReply& fill);
  void reply_error(const PeerCall& call, const Status& s);

  // Called when the control link to a node that was up closes (the node's
  // daemon died, or the connection broke).
  void on_link_lost(std::function<void(uint32_t node)> hook) { link_lost_ = std::move(hook); }

  // --- image / stdio connections ---
  // Called with each authenticated connection of that kind (without a hook
  // such connections are closed).
  void on_channel(peer::Open::Which kind, ChannelHook hook);
  // Blocking, from any thread: connects to `node`, authenticates, sends the
  // Open that `fill` builds; `fd_out` is a blocking socket on success.
  Status open_channel(uint32_t node, const FillOpen& fill, int timeout_ms, int& fd_out) const;

 private:
  struct Pending;
  struct Outgoing;

  // PeerLinkOwner
  void link_up(PeerLink& link) override;
  void link_frame(PeerLink& link, const void* data, size_t len) override;
  void link_channel(PeerLink& link, int fd, const void* open, size_t len) override;
  void link_closed(PeerLink& link, const Status& why) override;

  static void on_accept(struct ev_loop* loop, ev_io* w, int revents);
  static void on_request_timer(struct ev_loop* loop, ev_timer* w, int revents);
  static void on_prepare(struct ev_loop* loop, ev_prepare* w, int revents);
  static void on_retry(struct ev_loop* loop, ev_timer* w, int revents);

  void accept_peers();
  // Opens the control link to `node` if none is open or opening. In the
  // backoff after a failure: true if the next attempt comes within `patience`
  // seconds (it is scheduled), else false with the last failure in `why`.
  bool ensure_link(uint32_t node, double patience, Status& why);
  void send_pending(Pending& p);
  // Completes request `id` (once): runs its callback with `s` and, when
  // s.ok(), the reply in `frame`.
  void finish(uint64_t id, const Status& s, const void* frame = nullptr, size_t len = 0);
  void dispatch_request(const PeerCall& call, const void* data, size_t len);
  void reply_frame(const PeerCall& call, const Frame& frame);
  void retire(PeerLink& link);

  struct ev_loop* loop_;
  const ClusterConfig& config_;
  uint32_t self_;
  Logger& log_;
  int listen_fd_ = -1;
  ev_io accept_w_;
  ev_prepare prepare_w_;
  uint64_t last_link_id_ = 0, last_request_id_ = 0;
  std::map<uint64_t, std::unique_ptr<PeerLink>> links_;
  std::function<void(uint32_t)> link_lost_;
  std::vector<uint32_t> lost_nodes_;  // links lost since the loop last came round
  std::vector<std::unique_ptr<PeerLink>> retired_;  // closed, deleted from the loop
  std::vector<Outgoing> outgoing_;                  // by node index
  std::map<uint64_t, std::unique_ptr<Pending>> pending_;
  std::map<int, Handler> handlers_;
  std::map<int, ChannelHook> channel_hooks_;
  std::set<uint64_t> handshaking_;  // listener links not yet up
};

}  // namespace vproc::daemon
