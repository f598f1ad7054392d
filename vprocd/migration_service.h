// Migration: moving a running process to another node (docs/cluster.md,
// "Migration"). One object per daemon plays every role a migration needs of
// this node:
//
//   source (migration_source.cc)  the process runs here: checkpoint it, send
//                                 the image, decide (commit or abort);
//   target (migration_target.cc)  receive the image, restore the guest held
//                                 paused, run it when the source commits;
//   home   (migration_home.cc)    the vpid is ours: where it runs, its shadow,
//                                 the shadow's stdio sockets, its exit.
//
// The rule that keeps a process from being lost or running twice: the guest
// on the target runs no program code until the source has committed, and the
// source commits only after the target said the guest is ready. Until then
// every failure ends in "continue at the source".
#pragma once

#include <ev.h>

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "checkpoint_service.h"
#include "credentials.h"
#include "guest_launcher.h"
#include "image_receiver.h"
#include "image_sender.h"
#include "logger.h"
#include "migration_files.h"
#include "migration_peers.h"
#include "migration_stdin.h"
#include "process_table.h"
#include "spool.h"
#include "transfer_wire.h"
#include "wire.h"

namespace vproc::daemon {

class ShadowService;
class LoopTask;

struct MigrationLimits {
  double ready_timeout_s = 60;   // image sent -> the target's Ready
  double paused_unknown_s = 10;  // a paused guest whose source does not know it: abort
  double tick_s = 1;
};

class Migrations {
 public:
  using ConnectionId = uint64_t;
  using ReplyLater = std::function<bool(ConnectionId, const wire::Reply&)>;

  Migrations(struct ev_loop* loop, ProcessTable& table, CheckpointService& checkpoints, Spool& spool,
             MigrationPeers& peers, Logger& log, std::string vproc_path, MigrationLimits limits = {});
  ~Migrations();
  Migrations(const Migrations&) = delete;
  Migrations& operator=(const Migrations&) = delete;

  void set_reply_later(ReplyLater fn) { reply_later_ = std::move(fn); }
  void set_shadows(ShadowService* shadows) { shadows_ = shadows; }
  // This daemon's socket: the guests it restores register there.
  void set_socket_path(std::string path) { socket_path_ = std::move(path); }

  // --- local requests; true: the reply is deferred (sent through ReplyLater) ---
  bool request(const Peer& caller, const wire::MigrateRequest& m, ConnectionId conn, wire::Reply& now);
  bool migrate_wait(const Peer& writer, const wire::MigrateWait& m, ConnectionId conn, wire::Reply& now);
  // `migrate`'s progress display (migration_progress.cc): this node's
  // migration of the vpid, else the answer of the node it runs on.
  bool progress(const wire::MigrateProgress& m, ConnectionId conn, wire::Reply& now);
  // Restored with a migration id: the guest's restore registers it.
  Status restored(const Peer& peer, const wire::Restored& m);
  bool resumed(const Peer& peer, const wire::Resumed& m, ConnectionId conn, wire::Reply& now);
  Status guest_status(const Peer& peer, const wire::GuestStatus& m);
  // The shadow of `v` registered (ShadowService's commit hook): the commit point
  // of a first migration.
  Status shadow_registered(VPid v, uint64_t migration, uint32_t target);
  // A shadow's connection closed before it was told the guest's exit.
  void shadow_gone(VPid v);

  // --- requests from other daemons ---
  void on_migrate_out(const MigrateOut& m, std::function<void(const MigrateOutcome&)> respond);
  void on_ready(const ReadyMsg& m, std::function<void(Decision)> respond);
  Decision on_status(uint64_t migration) const;
  Status on_relocated(const RelocatedMsg& m);
  // `from`: the reporting node.
  // EAGAIN: ask again later (the shadow has not registered since a restart).
  Status on_guest_changed(const GuestChangedMsg& m, uint32_t from);
  void on_kill_guest(VPid v, uint64_t migration);
  // The control link to `node` closed: a migration to it that has not reached
  // its commit is called off (its guest cannot commit without us).
  void node_lost(uint32_t node);
  // Before a checkpoint: are the files the process uses here (migration_files.h)?
  void on_files_check(FilesInUse files, std::function<void(Status)> respond);
  // How far this node's migration of `v` is (stage None: there is none).
  wire::Progress on_progress(VPid v);
  // Accepted, authenticated connections (fd owned from now on).
  void on_image_connection(int fd);
  void on_stdio_connection(int fd, VPid v, uint64_t migration, int which);

  // Where this node's vpid `v` runs: its node index (self() if here).
  uint32_t location_of(VPid v) const;
  size_t active() const { return outgoing_.size() + incoming_.size(); }

 private:
  struct Outgoing;
  struct Incoming;

  // source
  void start_out(const MigrateOut& m, std::function<void(const MigrateOutcome&)> respond);
  // The checks start_out makes, again after the target checked the files
  // (migration_precheck.cc); ok or why not, with `rec` set.
  Status check_out(const MigrateOut& m, const ProcessRecord*& rec) const;
  void precheck_out(const MigrateOut& m, RealPid real, std::function<void(const MigrateOutcome&)> respond);
  // `requested`: ev_time() of the request (the result's total counts from it).
  void checkpoint_out(const MigrateOut& m, std::function<void(const MigrateOutcome&)> respond, double requested);
  void checkpoint_done(uint64_t id, const wire::Reply& r);
  void send_image(Outgoing& o);
  void image_sent(uint64_t id, const Status& s);
  void commit(Outgoing& o, uint32_t real);
  void committed(uint64_t id);
  void abort_out(Outgoing& o, const Status& why);
  // The frozen copy's stdin channel (before the commit), and after it, its
  // unread input back to the shadow (migration_stdin.h).
  void take_stdin(Outgoing& o);
  void hand_over_stdin(Outgoing& o);
  void give_verdict(Outgoing& o, wire::VerdictAction action);
  void finish_out(uint64_t id, MigrateOutcome outcome);
  Outgoing* out_by_request(uint32_t request_id);
  // target
  void image_received(uint64_t id, const Status& s);
  void prepare_guest(Incoming& in);
  void launch_guest(uint64_t id);
  void guest_ended(uint64_t id, int status, const std::string& report);
  void send_ready(Incoming& in, int err, const std::string& message);
  void decided(uint64_t id, Decision d);
  void fail_in(uint64_t id, int err, const std::string& message);
  void close_in(uint64_t id);
  // home
  void push_channels(VPid v, uint64_t migration);
  // Files stdio socket `fd` (`which`: 0-3, as channels_) of `migration`.
  void add_channel(VPid v, uint64_t migration, int which, int fd);
  void report_guest(VPid v, uint64_t migration, wire::GuestChange kind, int status);
  void send_reports(VPid v);
  void retry_reports();

  static void on_tick(struct ev_loop* loop, ev_timer* w, int revents);
  void tick();
  uint64_t new_id();

  struct ev_loop* loop_;
  ProcessTable& table_;
  CheckpointService& checkpoints_;
  Spool& spool_;
  MigrationPeers& peers_;
  Logger& log_;
  std::string vproc_path_, socket_path_;
  MigrationLimits limits_;
  ReplyLater reply_later_;
  ShadowService* shadows_ = nullptr;
  std::unordered_map<uint64_t, std::unique_ptr<Outgoing>> outgoing_;
  std::unordered_map<uint64_t, std::unique_ptr<Incoming>> incoming_;
  std::unordered_map<uint64_t, Decision> decided_;                // source: past decisions
  // home: stdio sockets per migration: the guest's fds 0-2, and [3] the
  // leftover of the previous copy's stdin (migration_stdin.h)
  std::unordered_map<uint64_t, std::array<int, 4>> channels_;
  std::unordered_map<uint64_t, std::unique_ptr<StdinHandover>> handovers_;  // source: by migration
  std::unordered_map<uint64_t, std::unique_ptr<ImageReceiver>> receiving_;  // image connections being read
  std::unordered_map<uint32_t, wire::VerdictAction> finished_requests_;    // checkpoint request -> verdict
  // guest's node: statuses not yet taken by the home node, per vpid, in order
  std::unordered_map<uint32_t, std::deque<GuestChangedMsg>> reports_;
  std::unordered_set<uint32_t> reporting_;  // vpids with a report in flight
  std::vector<std::unique_ptr<Outgoing>> graveyard_;  // ended, freed on the next tick
  std::vector<std::unique_ptr<Incoming>> in_graveyard_;
  std::vector<std::unique_ptr<ImageReceiver>> receiver_graveyard_;
  std::vector<std::unique_ptr<StdinHandover>> handover_graveyard_;
  // Files checks under way: the source's (by id, with the vpid they are
  // for) and the target's (migration_precheck.cc).
  std::unordered_map<uint64_t, std::pair<VPid, std::unique_ptr<LoopTask>>> prechecks_;
  std::unordered_map<uint64_t, std::unique_ptr<LoopTask>> file_checks_;
  // Where vpids run, as their home said, for progress questions (vpid ->
  // node, when learned); migration_progress.cc.
  std::unordered_map<uint32_t, std::pair<uint32_t, double>> progress_nodes_;
  uint64_t counter_ = 0;
  ev_timer tick_;
};

}  // namespace vproc::daemon
