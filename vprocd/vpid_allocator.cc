#include "vpid_allocator.h"

#include <cerrno>

#include "strf.h"

namespace vproc::daemon {

Status VPidAllocator::allocate(uint32_t want, std::atomic<uint32_t>& cursor,
                               const std::function<bool(uint32_t)>& taken, SerialRun& out) const {
  out = {};
  if (want == 0) return Status::failure(EINVAL, "cannot allocate an empty run of vpids");
  if (limit_ < 2) return Status::failure(EAGAIN, "the vpid space is empty");
  const uint32_t usable = limit_ - 1;  // serial 0 is never used
  uint32_t s = cursor.load(std::memory_order_relaxed);
  if (s == 0 || s >= limit_) s = 1;
  for (uint32_t tried = 0; tried < usable; ++tried) {
    if (!taken(s)) {
      uint32_t n = 1;
      // A run never wraps: a lease is one contiguous range of vpids.
      while (n < want && s + n < limit_ && !taken(s + n)) ++n;
      out = {s, n};
      uint32_t next = s + n;
      cursor.store(next >= limit_ ? 1 : next, std::memory_order_relaxed);
      return Status::success();
    }
    s = s + 1 >= limit_ ? 1 : s + 1;
  }
  return Status::failure(EAGAIN, strf("no free vpid: all %u serials of this node are in use or "
                                      "leased",
                                      usable));
}

}  // namespace vproc::daemon
