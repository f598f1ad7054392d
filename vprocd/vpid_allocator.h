// Hands out runs of free serials (the low 22 bits of a vpid) for leases.
//
// A serial cursor walks the space and wraps around, so a freed vpid is not
// handed out again until every other serial has had its turn: a stale vpid kept
// by some program is unlikely to name a new process soon. The cursor lives in
// the table header, so a restarted daemon continues where the last one stopped.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "status.h"
#include "vpid_space.h"

namespace vproc::daemon {

struct SerialRun {
  uint32_t first = 0;  // first serial
  uint32_t count = 0;  // serials first .. first+count-1, all free
};

class VPidAllocator {
 public:
  // Serials 1 .. serial_limit-1 (tests use a small space).
  explicit VPidAllocator(uint32_t serial_limit = kSerialLimit) : limit_(serial_limit) {}

  // Finds the first free serial at or after `cursor` (wrapping around) and extends
  // the run over following free serials, up to `want` (>= 1). Moves the cursor past
  // the run. `taken(serial)` tells serials in use or leased. EAGAIN when no serial
  // is free.
  Status allocate(uint32_t want, std::atomic<uint32_t>& cursor,
                  const std::function<bool(uint32_t)>& taken, SerialRun& out) const;

  uint32_t limit() const { return limit_; }

 private:
  uint32_t limit_;
};

}  // namespace vproc::daemon
