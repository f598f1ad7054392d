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
  // 0-2: the new guest's streams; 3: the previous copy's unread stdin, sent by
  // the source once the migration has committed (migration_stdin.h).
  if (home_node_of(v) != peers_.self() || which < 0 || which > 3) {
    log_.warning("stdio connection for vpid %u fd %d refused: not a process of this node", v.value, which);
    close(fd);
    return;
  }
  add_channel(v, migration, which, fd);
}

void Migrations::add_channel(VPid v, uint64_t migration, int which, int fd) {
  auto& set = channels_.try_emplace(migration, std::array<int, 4>{-1, -1, -1, -1}).first->second;
  if (set[size_t(which)] >= 0) close(set[size_t(which)]);
  set[size_t(which)] = fd;
  // Committed already (a slow connection, or the leftover, which comes only
  // after the commit): hand it over now. A process back home took its
  // migration's id at its restore, before the commit; only the leftover is
  // known to come after that.
  auto d = decided_.find(migration);
  const ProcessRecord* rec = table_.find(v);
  if (rec && rec->migration == migration &&
      (which == 3 || (d != decided_.end() && d->second == Decision::Commit) || rec->location >= 0))
    push_channels(v, migration);
}

void Migrations::push_channels(VPid v, uint64_t migration) {
  auto it = channels_.find(migration);
  if (it == channels_.end() || !shadows_) return;
  std::vector<int> fds;
  uint8_t mask = 0;
  for (size_t i = 0; i < it->second.size(); ++i) {
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
  if (home == peers_.self()) {
    Status s = on_guest_changed(m, home);
    if (!s.ok()) log_.warning("vpid %u: %s", v.value, s.message.c_str());
    return;
  }
  // The parent waits for the shadow, which waits for this: while the home node
  // is unreachable (down, restarting, cut off) the statuses wait here, in
  // order, and go when it answers again.
  reports_[v.value].push_back(m);
  send_reports(v);
}

void Migrations::send_reports(VPid v) {
  auto it = reports_.find(v.value);
  if (it == reports_.end() || it->second.empty() || reporting_.count(v.value)) return;
  reporting_.insert(v.value);
  peers_.guest_changed(home_node_of(v), it->second.front(), [this, v](Status s) {
    reporting_.erase(v.value);
    auto it = reports_.find(v.value);
    if (it == reports_.end()) return;
    if (!s.ok()) {
      if (!it->second.front().retried)
        log_.warning("cannot tell vpid %u's home about it yet (trying again every second): %s", v.value,
                     s.message.c_str());
      it->second.front().retried = true;
      return;  // tick() tries again
    }
    if (it->second.front().retried) log_.event("vpid %u's home has its status now", v.value);
    it->second.pop_front();
    if (it->second.empty()) {
      reports_.erase(it);
      return;
    }
    send_reports(v);
  });
}

void Migrations::retry_reports() {
  std::vector<uint32_t> waiting;
  for (const auto& [v, q] : reports_)
    if (!reporting_.count(v)) waiting.push_back(v);
  for (uint32_t v : waiting) send_reports(VPid{v});
}

Status Migrations::on_guest_changed(const GuestChangedMsg& m, uint32_t from) {
  VPid v{m.vpid};
  const ProcessRecord* rec = table_.find(v);
  if (!rec || rec->guest || !shadows_) return Status::success();  // nobody here waits for it
  if (rec->migration == 0 && rec->location >= 0 && from == uint32_t(rec->location)) {
    // This daemon restarted and forgot which migration took the process
    // there; the node it runs on knows.
    Status s = table_.set_location(v, rec->location, m.migration);
    if (!s.ok()) log_.warning("vpid %u: %s", m.vpid, s.message.c_str());
  }
  if (rec->migration != m.migration) {
    log_.event("vpid %u: a status from migration %llx, which is over: ignored", m.vpid,
               (unsigned long long)m.migration);
    return Status::success();
  }
  // After a restart of this daemon its shadow comes back within a second or
  // so: until then the guest's node keeps the status and tries again. A
  // shadow stopped with its guest cannot come back: a stop is nothing new to
  // it, anything else continues it first (shadow_service.h).
  if (!shadows_->has_shadow(v)) {
    // (A restarted daemon knows the shadow as the record's process.)
    RealPid shadow = rec->shadow ? rec->shadow : rec->real;
    uint64_t start = rec->shadow ? rec->shadow_start : rec->start_ticks;
    if (ShadowService::is_stopped(shadow, start)) {
      if (wire::GuestChange(m.kind) == wire::GuestChange::Stopped) return Status::success();
      ShadowService::wake(shadow);
    }
    return Status::failure(EAGAIN, strf("the shadow of vpid %u has not registered again yet", m.vpid));
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
  return Status::success();
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
