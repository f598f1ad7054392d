// Which vpids are reserved for which process (the lease holder).
//
// A process forks without asking the daemon: it takes the next vpid of its lease
// and tells the daemon afterwards (Spawned). The daemon accepts that only for a
// vpid leased to the sender, and returns the unused rest when the holder exits.
// In-memory index only; SharedTableWriter mirrors each leased serial in the file.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include "pid_types.h"

namespace vproc::daemon {

class LeaseBook {
 public:
  // Reserves vpids first .. first+count-1 for `holder`. They must not be leased yet.
  void grant(VPid holder, VPid first, uint32_t count);
  // The holder of `v`, or 0 if `v` is not leased.
  VPid holder_of(VPid v) const;
  // Removes `v` from `holder`'s lease (it is now used); false if it was not
  // leased to `holder`.
  bool take(VPid holder, VPid v);
  // Ends every lease of `holder`; returns the vpids it never used.
  std::vector<VPid> release_holder(VPid holder);
  // Number of vpids leased to `holder`, and to anyone.
  uint32_t held_by(VPid holder) const;
  uint64_t total() const { return total_; }

 private:
  struct Run {
    uint32_t count;
    VPid holder;
  };
  std::map<uint32_t, Run> runs_;                                // first vpid -> run
  std::unordered_map<uint32_t, std::set<uint32_t>> by_holder_;  // holder -> firsts of its runs
  std::unordered_map<uint32_t, uint32_t> held_;                 // holder -> vpids held
  uint64_t total_ = 0;
};

}  // namespace vproc::daemon
