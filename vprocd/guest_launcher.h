// Starts a migrated process on this node: `vproc restore --guest ID
// --report-fd 3 IMAGE` with the guest's stdio sockets as fds 0-2. That command
// forks the guest's keeper (this child: it stays the guest's parent and reports
// its wait statuses) and the guest itself (docs/cluster.md, step 3).
//
// The launcher watches the child (the keeper) with ev_child and reads the
// report pipe, on which `vproc restore` writes one line if the restore fails
// before the restorer runs.
#pragma once

#include <ev.h>

#include <array>
#include <functional>
#include <string>

#include "status.h"

namespace vproc::daemon {

class GuestLauncher {
 public:
  // Called once, when the keeper has exited: `status` its wait status, `report`
  // what the restore wrote on the report pipe (empty if nothing).
  using Ended = std::function<void(int status, const std::string& report)>;

  // `vproc`: path of the vproc command. `stdio[i]`: the socket to give as fd i,
  // or -1 for /dev/null. The fds stay the caller's.
  // The restore runs as `uid`/`gid` (the migrated process's) when the daemon is root.
  // `socket`: this daemon's socket, which the restore and the guest use.
  GuestLauncher(struct ev_loop* loop, std::string vproc, std::string socket, uint64_t migration, std::string image,
                std::array<int, 3> stdio, uint32_t uid, uint32_t gid, Ended ended);
  ~GuestLauncher();
  GuestLauncher(const GuestLauncher&) = delete;
  GuestLauncher& operator=(const GuestLauncher&) = delete;

  Status start();
  int keeper_pid() const { return pid_; }
  // What the restore reported so far.
  const std::string& report() const { return report_; }

 private:
  static void on_child(struct ev_loop* loop, ev_child* w, int revents);
  static void on_report(struct ev_loop* loop, ev_io* w, int revents);
  void read_report();

  struct ev_loop* loop_;
  std::string vproc_, socket_, image_;
  uint64_t migration_;
  std::array<int, 3> stdio_;
  uint32_t uid_, gid_;
  Ended ended_;
  int pid_ = -1;
  int report_fd_ = -1;
  std::string report_;
  ev_child child_;
  ev_io report_io_;
};

}  // namespace vproc::daemon
