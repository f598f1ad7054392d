// Vpids the daemon reserved for this process's children and threads.
//
// fork() must know the child's vpid before the child exists, without a round
// trip: it takes the next vpid of the lease with one compare-and-swap. Only an
// empty lease costs a LeaseRequest (16, then 64, then 256 vpids at a time).
#pragma once

#include <atomic>
#include <cstdint>

#include "pid_types.h"

namespace vproc::lib {

// The lease word: next vpid (high 32) | end, one past the last (low 32).
constexpr uint64_t lease_pack(uint32_t next, uint32_t end) { return uint64_t{next} << 32 | end; }

// True when the lease word `w` has no vpid left.
constexpr bool lease_take_would_fail(uint64_t w) {
  uint32_t next = uint32_t(w >> 32), end = uint32_t(w);
  return next == 0 || next >= end;
}

// Takes the next vpid from `lease`; 0 if it is used up. Lock-free.
inline uint32_t lease_take(std::atomic<uint64_t>& lease) {
  uint64_t w = lease.load(std::memory_order_relaxed);
  for (;;) {
    if (lease_take_would_fail(w)) return 0;
    uint32_t next = uint32_t(w >> 32), end = uint32_t(w);
    if (lease.compare_exchange_weak(w, lease_pack(next + 1, end), std::memory_order_acq_rel))
      return next;
  }
}

// Puts `v` back if it was the last one taken (a fork that failed), so the
// lease does not leak a vpid on every failing fork.
inline void lease_give_back(std::atomic<uint64_t>& lease, uint32_t v) {
  uint64_t w = lease.load(std::memory_order_relaxed);
  if (uint32_t(w >> 32) == v + 1) lease.compare_exchange_strong(w, lease_pack(v, uint32_t(w)));
}

// How many vpids the n-th refill asks for.
constexpr uint32_t lease_refill_size(uint32_t refills_done) {
  return refills_done == 0 ? 16 : refills_done == 1 ? 64 : 256;
}

// A vpid for a new child or thread of this process, refilling the lease from
// the daemon when it is empty. Returns an empty VPid when no daemon answers
// (the caller degrades: see design.md "Failure behaviour"). Async-signal-safe.
VPid take_vpid();

// Returns an unused vpid taken with take_vpid() (the fork failed).
void give_back_vpid(VPid v);

// Installs a lease the daemon granted (Hello or LeaseRequest reply); false if
// the grant is malformed.
bool install_lease(uint32_t first, uint32_t count);

}  // namespace vproc::lib
