#include "lease_book.h"

#include <iterator>

namespace vproc::daemon {

void LeaseBook::grant(VPid holder, VPid first, uint32_t count) {
  if (count == 0) return;
  // Merge with a run of the same holder that ends right before: one holder's
  // consecutive leases then stay one run (forks take them in order).
  auto it = runs_.lower_bound(first.value);
  if (it != runs_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.holder == holder && prev->first + prev->second.count == first.value) {
      prev->second.count += count;
      held_[holder.value] += count;
      total_ += count;
      return;
    }
  }
  runs_[first.value] = Run{count, holder};
  by_holder_[holder.value].insert(first.value);
  held_[holder.value] += count;
  total_ += count;
}

VPid LeaseBook::holder_of(VPid v) const {
  auto it = runs_.upper_bound(v.value);
  if (it == runs_.begin()) return VPid{};
  --it;
  if (v.value - it->first < it->second.count) return it->second.holder;
  return VPid{};
}

bool LeaseBook::take(VPid holder, VPid v) {
  auto it = runs_.upper_bound(v.value);
  if (it == runs_.begin()) return false;
  --it;
  uint32_t first = it->first;
  Run run = it->second;
  if (v.value - first >= run.count || run.holder != holder) return false;
  auto& firsts = by_holder_[holder.value];
  runs_.erase(it);
  firsts.erase(first);
  uint32_t before = v.value - first;
  uint32_t after = run.count - before - 1;
  if (before) {
    runs_[first] = Run{before, holder};
    firsts.insert(first);
  }
  if (after) {
    runs_[v.value + 1] = Run{after, holder};
    firsts.insert(v.value + 1);
  }
  if (firsts.empty()) by_holder_.erase(holder.value);
  if (--held_[holder.value] == 0) held_.erase(holder.value);
  --total_;
  return true;
}

std::vector<VPid> LeaseBook::release_holder(VPid holder) {
  std::vector<VPid> out;
  auto h = by_holder_.find(holder.value);
  if (h == by_holder_.end()) return out;
  for (uint32_t first : h->second) {
    auto it = runs_.find(first);
    if (it == runs_.end()) continue;
    for (uint32_t i = 0; i < it->second.count; ++i) out.push_back(VPid{first + i});
    runs_.erase(it);
  }
  by_holder_.erase(h);
  held_.erase(holder.value);
  total_ -= out.size();
  return out;
}

uint32_t LeaseBook::held_by(VPid holder) const {
  auto it = held_.find(holder.value);
  return it == held_.end() ? 0 : it->second;
}

}  // namespace vproc::daemon
