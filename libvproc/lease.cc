#include "lease.h"

#include <errno.h>

#include <variant>

#include "daemon_link.h"
#include "state.h"
#include "vpid_space.h"
#include "preload_rules.h"

namespace vproc::lib {

namespace {

// A grant is a run of vpids of one node (a daemon bug must not make us hand out
// numbers that are not vpids).
bool grant_valid(uint32_t first, uint32_t count) {
  uint64_t last = uint64_t{first} + count - 1;
  return count > 0 && valid_vpid(first) && valid_vpid(int64_t(last)) &&
         home_node_of(VPid{first}) == home_node_of(VPid{uint32_t(last)});
}

// The daemon does not know us yet: we were forked or spawned moments ago and
// our parent's Spawned is still on its way. Claim our vpid ourselves (the
// daemon accepts that from a child of the lease holder) and take the lease
// that comes with the registration.
VPid claim_own_vpid() {
  ProcessState& st = state();
  wire::Reply reply;
  if (round_trip(wire::Hello{wire::kProtocolVersion, st.self.value, st.parent, uint32_t(st.ckpt.signo)}, reply) != 0) return VPid{};
  const wire::HelloOk* ok = std::get_if<wire::HelloOk>(&reply);
  if (!ok || ok->vpid != st.self.value || !install_lease(ok->lease.first, ok->lease.count)) return VPid{};
  return VPid{lease_take(st.lease)};
}

}  // namespace

bool install_lease(uint32_t first, uint32_t count) {
  if (count == 0) return true;  // nothing granted: not an error
  if (!grant_valid(first, count)) return false;
  state().lease.store(lease_pack(first, first + count), std::memory_order_release);
  return true;
}

VPid take_vpid() {
  ProcessState& st = state();
  if (uint32_t v = lease_take(st.lease)) return VPid{v};

  uint32_t refills = st.lease_refills.load(std::memory_order_relaxed);
  wire::Reply reply;
  if (round_trip(wire::LeaseRequest{lease_refill_size(refills)}, reply) != 0) return VPid{};
  if (const wire::Error* e = std::get_if<wire::Error>(&reply))
    return e->err == EPERM && valid_vpid(st.self.value) ? claim_own_vpid() : VPid{};
  const wire::Lease* l = std::get_if<wire::Lease>(&reply);
  if (!l || !grant_valid(l->first, l->count)) return VPid{};
  st.lease_refills.fetch_add(1, std::memory_order_relaxed);

  // The first vpid is ours; the rest becomes the lease, unless another thread
  // (or a signal handler) refilled meanwhile: then the rest stays unused and
  // the daemon reclaims it when this process exits.
  if (l->count > 1) {
    uint64_t cur = st.lease.load(std::memory_order_relaxed);
    if (lease_take_would_fail(cur))
      st.lease.compare_exchange_strong(cur, lease_pack(l->first + 1, l->first + l->count),
                                       std::memory_order_acq_rel);
  }
  return VPid{l->first};
}

void give_back_vpid(VPid v) {
  if (v) lease_give_back(state().lease, v.value);
}

}  // namespace vproc::lib
