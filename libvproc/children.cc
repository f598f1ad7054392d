#include "children.h"

#include "libc_boundary.h"
#include "preload_rules.h"

namespace vproc::lib {

bool ChildTable::claim(int i, uint64_t expected, uint64_t w) {
  if (!slots_[i].packed.compare_exchange_strong(expected, w, std::memory_order_acq_rel)) return false;
  int used = used_->load(std::memory_order_relaxed);
  while (used < i + 1 && !used_->compare_exchange_weak(used, i + 1, std::memory_order_acq_rel)) {
  }
  return true;
}

bool ChildTable::add(VPid v, RealPid r) {
  if (!v || !r || r.value >= kRealPidLimit) return false;
  const uint64_t w = pack(v, r);
  // Lowest free slot first keeps the high-water mark, and so every scan, short.
  for (int i = 0; i < capacity_; ++i)
    if (slots_[i].packed.load(std::memory_order_relaxed) == 0 && claim(i, 0, w)) return true;
  // Full of live and reaped children: a reaped one gives way.
  for (int i = 0; i < capacity_; ++i) {
    uint64_t old = slots_[i].packed.load(std::memory_order_relaxed);
    if ((old & kReapedBit) && claim(i, old, w)) return true;
  }
  return false;
}

RealPid ChildTable::real_of(VPid v) const {
  if (!v) return RealPid{};
  RealPid found;
  for_each([&](ChildEntry c) {
    if (!c.reaped && c.vpid == v) found = c.real;
  });
  return found;
}

VPid ChildTable::vpid_of(RealPid r) const {
  if (!r) return VPid{};
  VPid found;
  for_each([&](ChildEntry c) {
    if (!c.reaped && c.real == r) found = c.vpid;
  });
  return found;
}

RealPid ChildTable::group_real_of(VPid v) const {
  if (!v) return RealPid{};
  RealPid found;
  for_each([&](ChildEntry c) {
    if (c.vpid == v && (!found || !c.reaped)) found = c.real;
  });
  return found;
}

VPid ChildTable::group_vpid_of(RealPid r) const {
  if (!r) return VPid{};
  VPid live, reaped;
  for_each([&](ChildEntry c) {
    if (c.real == r) (c.reaped ? reaped : live) = c.vpid;
  });
  return live ? live : reaped;
}

bool ChildTable::set_bits(VPid v, uint64_t bits, bool want_reaped) {
  if (!v) return false;
  int n = used_->load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    uint64_t w = slots_[i].packed.load(std::memory_order_acquire);
    if (w && unpack(w).vpid == v && unpack(w).reaped == want_reaped && (w & bits) != bits &&
        slots_[i].packed.compare_exchange_strong(w, w | bits, std::memory_order_acq_rel))
      return true;
  }
  return false;
}

bool ChildTable::mark_reaped(VPid v) { return set_bits(v, kReapedBit, false); }
bool ChildTable::mark_seen(VPid v) { return set_bits(v, kSeenBit, true); }

bool ChildTable::remove(VPid v) {
  if (!v) return false;
  int n = used_->load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    uint64_t w = slots_[i].packed.load(std::memory_order_acquire);
    if (w && unpack(w).vpid == v && slots_[i].packed.compare_exchange_strong(w, 0, std::memory_order_acq_rel))
      return true;
  }
  return false;
}

VPROC_FORK_CHILD_PATH void ChildTable::clear() {
  // Writes only what is not already empty: in a fork child every page written
  // is a copy-on-write fault.
  int n = used_->load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    if (slots_[i].packed.load(std::memory_order_relaxed) != 0) slots_[i].packed.store(0, std::memory_order_relaxed);
  if (n != 0) used_->store(0, std::memory_order_release);
}

}  // namespace vproc::lib
