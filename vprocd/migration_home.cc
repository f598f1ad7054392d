// The home node of a migrated vpid: it knows where the process runs, holds
// its shadow (the original process, which the parent waits for), hands the
// shadow the stdio sockets of each new guest, and relays the guest's exit.
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "migration_service.h"
#include "migration_state.h"
#include "shadow_service.h"
#include "strf.h"

namespace vproc::daemon {

uint32_t Migrations::location_of(VPid v) const {
  const ProcessRecord* rec = table_.find(v);
  return rec && !rec->guest && rec->location >= 0 ? uint32_t(rec->location) : peers_.self();
}

Status Migrations::on_relocated(const RelocatedMsg& m) {
  VPid v{m.vpid};
  const ProcessRecord* rec = table_.find(v);
  if (!rec || rec->guest) return Status::failure(ESRCH, strf("vpid %u has no home record here", m.vpid));
  // Coming home needs no change: the runner took the record at its Restored
  // (ProcessTable::add_guest). Elsewhere: the record says where it runs now.
  if (m.node != peers_.self()) {
    Status s = table_.set_location(v, int(m.node), m.migration);
    if (!s.ok()) return s;
  }
  push_channels(v, m.migration);
  return Status::success();
}

void Migrations::on_stdio_connection(int fd, VPid v, uint64_t migration, int which) {
  if (home_node_of(v) != peers_.self() || which < 0 || which > 2) {
    log_.warning("stdio connection for vpid %u fd %d refused: not a process of this node", v.value, which);
    close(fd);
    return;
  }
  auto& set = channels_.try_emplace(migration, std::array<int, 3>{-1, -1, -1}).first->second;
  if (set[which] >= 0) close(set[which]);
  set[which] = fd;
  // Committed already (a slow connection): hand it over now.
  auto d = decided_.find(migration);
  const ProcessRecord* rec = table_.find(v);
  if (rec && rec->migration == migration && ((d != decided_.end() && d->second == Decision::Commit) || rec->location >= 0))
    push_channels(v, migration);
}

void Migrations::push_channels(VPid v, uint64_t migration) {
  auto it = channels_.find(migration);
  if (it == channels_.end() || !shadows_) return;
  std::vector<int> fds;
  uint8_t mask = 0;
  for (int i = 0; i < 3; ++i) {
    if (it->second[i] < 0) continue;
    fds.push_back(it->second[i]);
    mask |= uint8_t(1u << i);
  }
  channels_.erase(it);
  if (fds.empty()) return;
  Status s = shadows_->push_channels(v, fds, mask);
  if (!s.ok()) log_.warning("stdio of vpid %u: %s", v.value, s.message.c_str());
}

void Migrations::report_guest(VPid v, uint64_t migration, wire::GuestChange kind, int status) {
  GuestChangedMsg m{v.value, uint8_t(kind), status, migration};
  uint32_t home = home_node_of(v);
  if (home == peers_.self()) return on_guest_changed(m);
  peers_.guest_changed(home, m, [this, v](Status s) {
    if (!s.ok()) log_.warning("cannot tell vpid %u's home about it: %s", v.value, s.message.c_str());
  });
}

void Migrations::on_guest_changed(const GuestChangedMsg& m) {
  VPid v{m.vpid};
  const ProcessRecord* rec = table_.find(v);
  if (!rec || rec->guest || !shadows_) return;
  if (rec->migration != m.migration) {
    log_.event("vpid %u: a status from migration %llx, which is over: ignored", m.vpid,
               (unsigned long long)m.migration);
    return;
  }
  Status s;
  switch (wire::GuestChange(m.kind)) {
    case wire::GuestChange::Exited:
      s = shadows_->push_exited(v, m.status);
      if (rec->shadow && rec->real != rec->shadow) table_.remove_guest(v);  // it ran here: the shadow stands again
      break;
    case wire::GuestChange::Stopped: s = shadows_->push_stopped(v, m.status); break;
    case wire::GuestChange::Continued: s = shadows_->push_continued(v); break;
  }
  if (!s.ok()) log_.warning("vpid %u: %s", m.vpid, s.message.c_str());
}

void Migrations::shadow_gone(VPid v) {
  const ProcessRecord* rec = table_.find(v);
  if (!rec || rec->guest) return;
  if (rec->location >= 0) {
    log_.event("the shadow of vpid %u is gone: ending its guest on %s", v.value,
               peers_.name_of(uint32_t(rec->location)).c_str());
    peers_.kill_guest(uint32_t(rec->location), v, rec->migration);
  } else if (rec->shadow && rec->real != rec->shadow) {
    kill(pid_t(rec->real.value), SIGKILL);
  }
}

}  // namespace vproc::daemon
