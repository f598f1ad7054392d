// The process table's migration side (docs/cluster.md): guests — other nodes'
// vpids running here — and the location of this node's vpids that migrated
// away. (A part of ProcessTable, in its own file.)
#include <cerrno>

#include "pidfd.h"
#include "proc_stat.h"
#include "process_table.h"
#include "strf.h"

namespace vproc::daemon {

Status ProcessTable::add_guest(const Peer& peer, VPid v, uint32_t parent, uint64_t migration) {
  if (!peer.pid || !peer.start_ticks)
    return Status::failure(ESRCH, "the connecting process has no pid in this namespace or is gone");
  if (!valid_vpid(v.value)) return Status::failure(EINVAL, strf("%u is not a vpid", v.value));
  if (table_.owns(v)) return come_home(peer, v, migration);
  if (const ProcessRecord* old = find(v)) {
    if (old->real == peer.pid && old->start_ticks == peer.start_ticks) return Status::success();  // said twice
    return Status::failure(EEXIST, strf("vpid %u already runs here as pid %u", v.value, old->real.value));
  }
  if (const ProcessRecord* other = find_real(peer.pid); other && other->live())
    return Status::failure(EEXIST, strf("pid %u is vpid %u already", peer.pid.value, other->vpid.value));
  ProcessRecord rec;
  rec.vpid = v;
  rec.real = peer.pid;
  rec.parent = parent;
  ProcUids uids;
  rec.uid = read_proc_uids(peer.pid, uids) ? uids.real : peer.uid;
  rec.start_ticks = peer.start_ticks;
  rec.state = RecordState::Alive;
  rec.tgid = v;
  rec.guest = true;
  rec.migration = migration;
  guests_[v.value] = rec;
  guest_by_real_[peer.pid.value] = v.value;
  log_.event("guest vpid %u (home node %u) runs here as pid %u (migration %llx)", v.value, home_node_of(v),
             peer.pid.value, (unsigned long long)migration);
  return Status::success();
}

// A process of ours comes back from another node: it stands for its vpid again
// (its shadow stays: the parent waits for that one).
Status ProcessTable::come_home(const Peer& peer, VPid v, uint64_t migration) {
  ProcessRecord* rec = find_mut(v);
  if (!rec || rec->thread || !rec->live() || rec->location < 0)
    return Status::failure(ESRCH, strf("vpid %u is not a process of this node that runs elsewhere", v.value));
  if (!rec->shadow) {
    rec->shadow = rec->real;
    rec->shadow_start = rec->start_ticks;
  }
  rec->real = peer.pid;
  rec->start_ticks = peer.start_ticks;
  rec->location = -1;
  rec->migration = migration;
  table_.publish(v, fields_of(*rec), true);  // (a process: not a thread; location -1 above)
  rewatch(*rec);
  guest_by_real_[peer.pid.value] = v.value;
  log_.event("vpid %u is back home as pid %u (its shadow is pid %u)", v.value, peer.pid.value,
             rec->shadow.value);
  return Status::success();
}

void ProcessTable::remove_guest(VPid v) {
  if (table_.owns(v)) {
    // A process of ours that ran here after coming back: its shadow stands for it again.
    ProcessRecord* rec = find_mut(v);
    if (!rec || !rec->shadow) return;
    guest_by_real_.erase(rec->real.value);
    rec->real = rec->shadow;
    rec->start_ticks = rec->shadow_start;
    table_.publish(v, fields_of(*rec), false);
    if (rec->state == RecordState::Alive) rewatch(*rec);
    return_leases(v);
    return;
  }
  auto it = guests_.find(v.value);
  if (it == guests_.end()) return;
  if (auto r = guest_by_real_.find(it->second.real.value); r != guest_by_real_.end() && r->second == v.value)
    guest_by_real_.erase(r);
  guests_.erase(it);
  return_leases(v);
  log_.event("guest vpid %u is gone from this node", v.value);
}

Status ProcessTable::set_location(VPid v, int node, uint64_t migration) {
  ProcessRecord* rec = table_.owns(v) ? find_mut(v) : nullptr;
  if (!rec || rec->thread || !rec->live())
    return Status::failure(ESRCH, strf("no process with vpid %u has its home here", v.value));
  if (rec->shadow && rec->real != rec->shadow) remove_guest(v);  // it leaves home again
  if (!rec->shadow) {
    rec->shadow = rec->real;
    rec->shadow_start = rec->start_ticks;
  }
  rec->location = node;
  rec->migration = migration;
  table_.set_location(v, node);
  log_.event("vpid %u now runs on node %d (migration %llx)", v.value, node, (unsigned long long)migration);
  return Status::success();
}

// The record's pidfd follows its real pid: signals (kill, checkpoint
// requests) go through it, and its exit is the record's.
void ProcessTable::rewatch(ProcessRecord& rec) {
  close_pidfd(rec);
  unwatched_.erase(rec.vpid.value);
  rec.pidfd = open_pidfd(rec.real, false);
  if (rec.pidfd >= 0) {
    watch_.watch(rec.vpid, rec.pidfd);
  } else {
    unwatched_.insert(rec.vpid.value);
  }
}

void ProcessTable::sweep_guests() {
  std::vector<VPid> lost;
  for (const auto& [v, rec] : guests_) {
    ProcStat st;
    if (!read_proc_stat(rec.real, st) || st.start_ticks != rec.start_ticks) lost.push_back(rec.vpid);
  }
  for (VPid v : lost) {
    log_.warning("guest vpid %u vanished without its keeper's word", v.value);
    remove_guest(v);
    if (guest_lost_) guest_lost_(v);
  }
}

}  // namespace vproc::daemon
