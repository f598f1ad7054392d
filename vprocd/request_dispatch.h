// Turns one decoded request from a client into the table operation and the
// reply (if the request has one: Spawned and Reaped are one-way; a
// checkpoint's reply is deferred until its job ends).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "credentials.h"
#include "logger.h"
#include "node_info.h"
#include "process_table.h"
#include "wire.h"

namespace vproc::daemon {

class CheckpointService;
class CheckpointPolicies;
class ShadowService;
class ClusterQueries;
class Migrations;
class ChildRelay;
class SpawnRings;

class RequestDispatch {
 public:
  enum class Answer {
    None,   // one-way message: send nothing
    Small,  // send `reply` (wire::encode)
    List,   // send `list_frame` (already a complete frame)
    Deferred,  // the reply comes later, through the reply-later function (a
               // checkpoint); the connection's next requests wait until then
  };
  // Names a client connection for a deferred reply; 0: none (cannot defer).
  using ConnectionId = uint64_t;
  // Sends a deferred reply; false if that connection has closed meanwhile.
  using ReplyLater = std::function<bool(ConnectionId, const wire::Reply&)>;

  RequestDispatch(ProcessTable& table, const NodeInfo& node, Logger& log);

  // Called before a vpid is declared unknown (Lookup miss, first Hello): reads
  // and handles the input every other client has already sent, so that a
  // registration sent before this request is seen (design.md, "Allocation
  // without round trips").
  void set_drain(std::function<void()> drain_all) { drain_all_ = std::move(drain_all); }
  // Called before a Reaped is applied: reads what the reaped process itself had
  // sent (its last Spawned for a child it forked just before it exited travels
  // on its own connection and may still be unread).
  void set_drain_peer(std::function<void(RealPid)> drain_peer) { drain_peer_ = std::move(drain_peer); }
  // Says whether a connection of a process is being handled right now
  // (further up the stack); ring records wait for it (apply_ring_record).
  void set_peer_busy(std::function<bool(RealPid)> peer_busy) { peer_busy_ = std::move(peer_busy); }

  // Checkpoint requests go to these; without them they are refused (ENOSYS).
  void set_checkpoints(CheckpointService* service, CheckpointPolicies* policies, ReplyLater reply_later) {
    checkpoints_ = service;
    policies_ = policies;
    reply_later_ = std::move(reply_later);
  }

  // ShadowHello/ShadowWait go to this (else ENOSYS); a Signal to a vpid that
  // has a shadow goes to its guest through it, never to the shadow.
  void set_shadows(ShadowService* shadows) { shadows_ = shadows; }

  // Lookups and signals of other nodes' vpids and cluster-wide lists go to
  // this (with --cluster); without it they are answered for this node alone.
  void set_cluster(ClusterQueries* cluster) { cluster_ = cluster; }

  // Migration requests go to this (with --cluster; else refused or, for the
  // process-side questions, answered "go on").
  void set_migrations(Migrations* m) { migrations_ = m; }

  // ChildReport/ChildWait (children left behind by a migrated parent) go to
  // this (else ENOSYS).
  void set_child_relay(ChildRelay* relay) { child_relay_ = relay; }

  // RingAttach requests go to this (else refused: the process keeps sending).
  void set_rings(SpawnRings* rings) { rings_ = rings; }

  // `conn`: the connection the request came on, for a deferred reply.
  Answer handle(const Peer& peer, const wire::Request& req, wire::Reply& reply,
                std::vector<uint64_t>& list_frame, ConnectionId conn = 0);

  // Applies one spawn ring record (SpawnRings::Apply) as the message it stands
  // for; false ("not now") for a Reaped while the reaped process's own
  // connection is being handled: its last messages come first.
  bool apply_ring_record(const Peer& peer, const wire::Request& msg);

 private:
  Answer checkpoint(const Peer& peer, const wire::CheckpointRequest& m, ConnectionId conn, wire::Reply& reply);
  wire::Reply error_reply(const Status& s);
  void drain();

  ProcessTable& table_;
  const NodeInfo& node_;
  Logger& log_;
  std::function<void()> drain_all_;
  std::function<void(RealPid)> drain_peer_;
  std::function<bool(RealPid)> peer_busy_;
  CheckpointService* checkpoints_ = nullptr;
  CheckpointPolicies* policies_ = nullptr;
  ReplyLater reply_later_;
  ShadowService* shadows_ = nullptr;
  ClusterQueries* cluster_ = nullptr;
  Migrations* migrations_ = nullptr;
  ChildRelay* child_relay_ = nullptr;
  SpawnRings* rings_ = nullptr;
};

}  // namespace vproc::daemon
