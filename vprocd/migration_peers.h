// The migration service's view of the other daemons: requests over the
// control links (implemented on the cluster transport in peer_migration.cc;
// tests may connect two services directly). Every callback runs on the event
// loop, later, never inside the call; a Status failure means the request did
// not get an answer (node unreachable, link lost, timeout).
#pragma once

#include <array>
#include <functional>

#include "migration_files.h"
#include "migration_messages.h"
#include "pid_types.h"
#include "status.h"
#include "wire.h"

namespace vproc::daemon {

class MigrationPeers {
 public:
  virtual ~MigrationPeers() = default;

  virtual uint32_t self() const = 0;
  virtual uint32_t node_count() const = 0;
  virtual std::string name_of(uint32_t node) const = 0;
  // -1 if no node has that name.
  virtual int index_of(const std::string& name) const = 0;

  // Where `v` runs: its home node's answer (node index), ESRCH if unknown.
  virtual void where(VPid v, std::function<void(Status, uint32_t node)> done) = 0;
  virtual void migrate_out(uint32_t node, const MigrateOut& m,
                           std::function<void(Status, const MigrateOutcome&)> done) = 0;
  virtual void ready(uint32_t node, const ReadyMsg& m, std::function<void(Status, Decision)> done) = 0;
  virtual void status(uint32_t node, uint64_t migration, std::function<void(Status, Decision)> done) = 0;
  virtual void relocated(uint32_t node, const RelocatedMsg& m, std::function<void(Status)> done) = 0;
  virtual void guest_changed(uint32_t node, const GuestChangedMsg& m, std::function<void(Status)> done) = 0;
  virtual void kill_guest(uint32_t node, VPid v, uint64_t migration) = 0;
  // Does `node` have these files (migration_files.h)? A failure says which not.
  virtual void files_check(uint32_t node, const FilesInUse& files, std::function<void(Status)> done) = 0;
  // How far `node`'s migration of `v` is (stage None: it has none).
  virtual void progress(uint32_t node, VPid v, std::function<void(Status, const wire::Progress&)> done) = 0;

  // Blocking, for worker threads: an authenticated `image` connection to
  // `node`, or an `stdio` connection for fd `fd` of guest `v` (the home node
  // hands it to the shadow). Returns the fd or -errno with `why` filled in.
  virtual int open_image_channel(uint32_t node, std::string& why) = 0;
  virtual int open_stdio_channel(uint32_t node, VPid v, uint64_t migration, int fd, std::string& why) = 0;
};

}  // namespace vproc::daemon
