// The children this process created (fork, clone, posix_spawn), with their
// vpids, until they are reaped and the daemon has caught up.
//
// Why a local table when the shared table knows every process: the daemon learns
// about a child from a one-way Spawned message, so for a short while only the
// parent knows the mapping; and after the kernel reaps a child its real pid can
// be reused at once, so wait*() must translate it from what the parent recorded.
// A reaped child stays here, marked "reaped", until the daemon has caught up
// and let go of it: its pid may still name its process group (a group outlives
// its leader), or arrive as si_pid of a signal it sent before it was reaped,
// and the shared table may not show it yet (or any more).
//
// Lock-free (one atomic word per slot, claimed with compare-and-swap) so it can
// be used from signal handlers and fork children. Pure: no syscalls, unit-tested.
#pragma once

#include <atomic>
#include <cstdint>

#include "pid_types.h"

namespace vproc::lib {

// vpid (high 32) | reaped (bit 31) | seen (bit 30) | real pid (bits 0..21);
// 0 = empty.
struct ChildSlot {
  std::atomic<uint64_t> packed{0};
};
inline constexpr int kMaxChildren = 4096;

struct ChildEntry {
  VPid vpid;
  RealPid real;
  bool reaped = false;
  bool seen = false;  // reaped, and the shared table has shown it since
};

// A view over a fixed array of slots and its high-water mark (both live in
// ProcessState). Copyable; holds no state of its own.
class ChildTable {
 public:
  ChildTable(ChildSlot* slots, std::atomic<int>* used, int capacity)
      : slots_(slots), used_(used), capacity_(capacity) {}

  // Records a child. Takes a free slot, else the slot of a reaped child. False
  // if every slot holds a live child (the caller then relies on the shared
  // table alone).
  bool add(VPid v, RealPid r);
  // Live children only; 0 when unknown.
  RealPid real_of(VPid v) const;
  VPid vpid_of(RealPid r) const;
  // Reaped children too, live ones first: for process-group ids and the
  // senders of signals (0 when unknown).
  RealPid group_real_of(VPid v) const;
  VPid group_vpid_of(RealPid r) const;
  // Marks a reaped child; false if not recorded live.
  bool mark_reaped(VPid v);
  // Notes that the shared table shows a reaped child; false if not recorded.
  bool mark_seen(VPid v);
  // Forgets a child, live or reaped; false if it was not recorded.
  bool remove(VPid v);
  // Forgets everything (a fork child has no children).
  void clear();
  // Calls fn(ChildEntry) for every recorded child, live or reaped.
  template <typename Fn>
  void for_each(Fn fn) const {
    int n = used_->load(std::memory_order_acquire);
    for (int i = 0; i < n; ++i)
      if (uint64_t w = slots_[i].packed.load(std::memory_order_acquire)) fn(unpack(w));
  }

  static constexpr uint64_t kReapedBit = uint64_t{1} << 31;
  static constexpr uint64_t kSeenBit = uint64_t{1} << 30;
  static constexpr uint64_t pack(VPid v, RealPid r, bool reaped = false, bool seen = false) {
    return uint64_t{v.value} << 32 | (reaped ? kReapedBit : 0) | (seen ? kSeenBit : 0) |
           (r.value & (kRealPidLimit - 1));
  }
  static constexpr ChildEntry unpack(uint64_t w) {
    return {VPid{uint32_t(w >> 32)}, RealPid{uint32_t(w) & (kRealPidLimit - 1)}, (w & kReapedBit) != 0,
            (w & kSeenBit) != 0};
  }

 private:
  bool claim(int i, uint64_t expected, uint64_t w);
  // Sets `bits` on the slot of `v` if `want_live` (not reaped) / reaped matches.
  bool set_bits(VPid v, uint64_t bits, bool want_reaped);

  ChildSlot* slots_;
  std::atomic<int>* used_;
  int capacity_;
};

}  // namespace vproc::lib
