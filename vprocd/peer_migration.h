// MigrationPeers on the cluster transport (vprocd/cluster.h): the migration's
// control requests as common/peer.capnp messages, the image and stdio
// connections, and serve(), which installs the handlers that answer other
// nodes' migration requests.
#pragma once

#include "cluster.h"
#include "migration_peers.h"
#include "process_table.h"

namespace vproc::daemon {

class Migrations;

class PeerMigration : public MigrationPeers {
 public:
  PeerMigration(Cluster& cluster, ProcessTable& table);

  // Answers the migration requests of other nodes with `m`.
  void serve(Migrations& m);

  uint32_t self() const override { return cluster_.self(); }
  uint32_t node_count() const override { return cluster_.node_count(); }
  std::string name_of(uint32_t node) const override {
    return node < cluster_.node_count() ? cluster_.name_of(node) : "node " + std::to_string(node);
  }
  int index_of(const std::string& name) const override { return cluster_.index_of(name); }
  void where(VPid v, std::function<void(Status, uint32_t node)> done) override;
  void migrate_out(uint32_t node, const MigrateOut& m,
                   std::function<void(Status, const MigrateOutcome&)> done) override;
  void ready(uint32_t node, const ReadyMsg& m, std::function<void(Status, Decision)> done) override;
  void status(uint32_t node, uint64_t migration, std::function<void(Status, Decision)> done) override;
  void relocated(uint32_t node, const RelocatedMsg& m, std::function<void(Status)> done) override;
  void guest_changed(uint32_t node, const GuestChangedMsg& m, std::function<void(Status)> done) override;
  void kill_guest(uint32_t node, VPid v, uint64_t migration) override;
  void files_check(uint32_t node, const FilesInUse& files, std::function<void(Status)> done) override;
  void progress(uint32_t node, VPid v, std::function<void(Status, const wire::Progress&)> done) override;
  int open_image_channel(uint32_t node, std::string& why) override;
  int open_stdio_channel(uint32_t node, VPid v, uint64_t migration, int fd, std::string& why) override;

 private:
  Cluster& cluster_;
  ProcessTable& table_;
};

}  // namespace vproc::daemon
