// The children a migrated process left behind (docs/cluster.md, "Children left
// behind"): the shadow is still their kernel parent, so it is the one the
// kernel tells when they exit, stop or continue. It reports each change to its
// daemon (ChildReport), from where the guest's stand-ins learn it.
//
// An exit is looked at with WNOWAIT and reaped only once the daemon has the
// report: until then the child stays a zombie, so its pid still names its
// record (and nobody else's). Stops and continues are consumed at once (the
// shadow is the only one waiting for these children).
#pragma once

#include <poll.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "shadow_link.h"

namespace vproc::shadow {

class ShadowChildren {
 public:
  ShadowChildren(uint32_t parent_vpid, std::string socket_path);

  // The children the process had (its own children list: the shadow forks
  // none). Call once, before the first SIGCHLD is read.
  void scan();
  bool empty() const { return children_.empty(); }
  // The daemon takes reports from now on (the shadow's Hello was accepted).
  void set_ready(bool ready);
  // SIGCHLD: collect what changed, report it.
  void on_sigchld();

  void prepare(std::vector<pollfd>& set);
  void service(const std::vector<pollfd>& set);

 private:
  struct Report {
    uint32_t child = 0;
    uint8_t kind = 0;
    int32_t status = 0;
  };
  void collect(uint32_t child);
  void send_all();
  void lost();

  uint32_t parent_;
  std::string socket_path_;
  DaemonLink link_;
  bool ready_ = false;
  int slot_ = -1;
  std::vector<uint32_t> children_;       // not reaped yet
  std::vector<uint32_t> exit_reported_;  // zombies whose report is on the way
  std::deque<Report> unsent_;            // not yet written
  std::deque<Report> unanswered_;        // written, reply pending
};

}  // namespace vproc::shadow
