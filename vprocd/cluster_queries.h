// Cluster-wide lookups, signals and process lists (docs/cluster.md, "Who knows
// what"), in two halves:
//
// * for local clients, about vpids of other nodes: the request goes to the
//   vpid's home node and the client's reply is deferred until it answers;
// * for other nodes: the handlers that answer their lookup, signal, list and
//   ping requests from this node's table.
//
// Nothing is cached: every answer comes from the node that knows.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "cluster.h"
#include "credentials.h"
#include "logger.h"
#include "node_info.h"
#include "process_table.h"
#include "wire.h"

namespace vproc::daemon {

class ClusterQueries {
 public:
  // Deferred replies to client connection `conn` (Server::send_later and its
  // frame form); false if the client has gone.
  using SendReply = std::function<bool(uint64_t conn, const wire::Reply& reply)>;
  using SendFrame = std::function<bool(uint64_t conn, std::vector<uint64_t> frame)>;

  // libvproc gives a round trip 2 s: a lookup or signal must be answered before.
  static constexpr double kRequestTimeout = 1.5;
  // Each node's share of a cluster-wide list.
  static constexpr double kListTimeout = 1.0;

  ClusterQueries(Cluster& cluster, ProcessTable& table, const NodeInfo& node, Logger& log, SendReply send_reply,
                 SendFrame send_frame);

  // Reads pending client input before a vpid is declared unknown (as
  // RequestDispatch does for local lookups).
  void set_drain(std::function<void()> drain) { drain_ = std::move(drain); }

  // Installs the handlers for other nodes' requests.
  void serve();

  // --- for local clients. Each returns true if the reply to `conn` is deferred
  // (it comes through the send functions), else has filled `reply`. ---
  // Lookup of `v`, a vpid of another node that does not run here.
  bool lookup(VPid v, uint64_t conn, wire::Reply& reply);
  // Signal (or sigqueue) of a vpid of another node that does not run here,
  // checked there against `caller`'s uids.
  bool signal(const Peer& caller, const wire::Signal& m, uint64_t conn, wire::Reply& reply);
  // The processes of every node (or of q.node), merged by vpid, with each
  // node's state; answered with a ClusterList frame.
  bool list(const wire::ClusterQuery& q, uint64_t conn, wire::Reply& reply);

 private:
  void answer_lookup(const PeerCall& call, uint32_t vpid);
  void answer_signal(const PeerCall& call, peer::SignalRequest::Reader m);

  Cluster& cluster_;
  ProcessTable& table_;
  const NodeInfo& node_;
  Logger& log_;
  SendReply send_reply_;
  SendFrame send_frame_;
  std::function<void()> drain_;
};

// sigqueue(3) on this node by vpid, with kill(2)'s permission rule applied to
// `caller` (a process only: a group target is EINVAL, as for sigqueue).
Status queue_signal_checked(const ProcessTable& table, const ProcUids& caller, int64_t target, int signo,
                            uint64_t value);

}  // namespace vproc::daemon
