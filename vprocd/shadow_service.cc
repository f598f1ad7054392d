#include "shadow_service.h"

#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <csignal>

#include "pidfd.h"
#include "proc_stat.h"
#include "server.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

void close_all(std::vector<int>& fds) {
  for (int fd : fds) close(fd);
  fds.clear();
}

}  // namespace

ShadowService::ShadowService(struct ev_loop* loop, const ProcessTable& table, Logger& log)
    : loop_(loop), table_(table), log_(log) {
  ev_timer_init(&kick_, &ShadowService::on_kick, 0., 0.);
  kick_.data = this;
  ev_timer_init(&poll_, &ShadowService::on_poll, kPollMs / 1000, kPollMs / 1000);
  poll_.data = this;
}

ShadowService::~ShadowService() {
  ev_timer_stop(loop_, &kick_);
  while (!shadows_.empty()) drop(*shadows_.begin()->second);
  ev_timer_stop(loop_, &poll_);
}

Status ShadowService::check_peer(const Peer& peer, VPid vpid) const {
  const ProcessRecord* rec = table_.find(vpid);
  if (!rec || rec->thread || !rec->live())
    return Status::failure(ESRCH, strf("no process with vpid %u here", vpid.value));
  // execve keeps the pid and the start time: the shadow is the very process
  // the record names (as the process, or as its shadow once it is away), not
  // merely one with its pid.
  bool is_process = rec->real == peer.pid && rec->start_ticks != 0 && rec->start_ticks == peer.start_ticks;
  bool is_shadow = rec->shadow == peer.pid && rec->shadow_start != 0 && rec->shadow_start == peer.start_ticks;
  if (!is_process && !is_shadow)
    return Status::failure(EPERM, strf("pid %u is not the process of vpid %u", peer.pid.value, vpid.value));
  return Status::success();
}

Status ShadowService::hello(const Peer& peer, const wire::ShadowHello& m) {
  if (!valid_vpid(m.vpid)) return Status::failure(EINVAL, strf("%u is not a vpid", m.vpid));
  VPid v{m.vpid};
  Status s = check_peer(peer, v);
  if (!s.ok()) return s;
  if (!commit_) return Status::failure(ENOSYS, "this daemon does not take shadows");

  auto it = shadows_.find(v.value);
  if (it != shadows_.end() && (it->second->real != peer.pid || it->second->start_ticks != peer.start_ticks))
    drop(*it->second);  // an earlier process whose exit is not processed yet
  it = shadows_.find(v.value);
  bool fresh = it == shadows_.end();
  if (!fresh && it->second->migration == m.migration && it->second->target == m.target) {
    // Reconnected to the same daemon: already committed.
    log_.event("shadow of vpid %u (pid %u) is back", v.value, peer.pid.value);
    return Status::success();
  }
  Shadow* sh;
  if (fresh) {
    int pidfd = open_pidfd(peer.pid, false);
    // Opened first, checked after: the pidfd names the process that was checked.
    if (pidfd < 0 || !process_matches(peer.pid, peer.start_ticks)) {
      if (pidfd >= 0) close(pidfd);
      return Status::failure(ESRCH, strf("pid %u has exited", peer.pid.value));
    }
    auto owned = std::make_unique<Shadow>();
    sh = owned.get();
    sh->owner = this;
    sh->vpid = v;
    sh->real = peer.pid;
    sh->start_ticks = peer.start_ticks;
    sh->pidfd = pidfd;
    sh->peer = peer;
    ev_io_init(&sh->exit_watcher, &ShadowService::on_exit, pidfd, EV_READ);
    sh->exit_watcher.data = sh;
    ev_io_start(loop_, &sh->exit_watcher);
    shadows_.emplace(v.value, std::move(owned));
    update_poll();
  } else {
    sh = it->second.get();
  }
  // Known from here on, so that the hook may push the guest's channels.
  s = commit_(v, m.migration, m.target);
  if (!s.ok()) {
    log_.event("shadow of vpid %u (pid %u) refused: %s", v.value, peer.pid.value, s.message.c_str());
    if (fresh) {
      auto again = shadows_.find(v.value);
      if (again != shadows_.end()) drop(*again->second);
    }
    return s;
  }
  sh->migration = m.migration;
  sh->target = m.target;
  log_.event("shadow of vpid %u (pid %u): migration %llu, guest on node %u", v.value, peer.pid.value,
             (unsigned long long)m.migration, m.target);
  return Status::success();
}

Status ShadowService::wait(const Peer& peer, const wire::ShadowWait& m, uint64_t conn) {
  auto it = shadows_.find(m.vpid);
  if (it == shadows_.end())
    return Status::failure(ESRCH, strf("vpid %u has no shadow here (ShadowHello first)", m.vpid));
  Shadow& sh = *it->second;
  if (sh.real != peer.pid || sh.start_ticks != peer.start_ticks)
    return Status::failure(EPERM, strf("pid %u is not the shadow of vpid %u", peer.pid.value, m.vpid));
  if (!conn) return Status::failure(EINVAL, "a ShadowWait needs a connection to answer later");
  // A wait on an older connection (before a reconnect) is dropped with it.
  sh.waiting = conn;
  // It runs and reads its events: whatever it was told, it is not (or no
  // longer) stopped as the guest's mirror.
  sh.stop_sent = false;
  sh.owed = Shadow::Owed::Nothing;
  if (!sh.events.empty()) kick();
  return Status::success();
}

Status ShadowService::signal_guest(const Peer& caller, VPid vpid, int signo) {
  if (!signal_guest_)
    return Status::failure(ENOSYS, strf("vpid %u runs on another node and this daemon cannot signal it there",
                                        vpid.value));
  auto it = shadows_.find(vpid.value);
  if (signo == SIGCONT && it != shadows_.end() && it->second->real == caller.pid) {
    // The shadow runs again and forwards its SIGCONT (shadow_stops.cc).
    it->second->cont_echo = true;
    it->second->stop_passed = false;
  }
  return signal_guest_(caller, vpid, signo);
}

Status ShadowService::push(VPid vpid, Event e) {
  auto it = shadows_.find(vpid.value);
  if (it == shadows_.end()) {
    close_all(e.fds);
    return Status::failure(ESRCH, strf("vpid %u has no shadow here", vpid.value));
  }
  Shadow& sh = *it->second;
  if (e.event.kind == wire::ShadowEventKind::Exited) sh.exit_pushed = true;
  sh.events.push_back(std::move(e));
  if (sh.waiting) kick();
  return Status::success();
}

Status ShadowService::push_channels(VPid vpid, std::vector<int> fds, uint8_t fd_mask) {
  if (fds.empty() || (fd_mask & ~15u) || size_t(std::popcount(unsigned(fd_mask))) != fds.size()) {
    close_all(fds);
    return Status::failure(EINVAL, strf("stdio channels for vpid %u: mask %#x does not match %zu sockets",
                                        vpid.value, unsigned(fd_mask), fds.size()));
  }
  wire::ShadowEvent ev{wire::ShadowEventKind::Channels, 0, fd_mask};
  return push(vpid, Event{ev, std::move(fds)});
}

Status ShadowService::push_exited(VPid vpid, int wait_status) {
  Status s = push(vpid, Event{wire::ShadowEvent{wire::ShadowEventKind::Exited, wait_status, 0}, {}});
  if (!s.ok()) return s;
  Shadow& sh = *shadows_.at(vpid.value);
  sh.stop_echo = sh.cont_echo = false;
  // A stopped shadow reads it once continued; killed by SIGKILL, a stopped
  // process dies at once (and is not reported as continued).
  bool killed = WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL;
  owe_if_stopped(sh, killed ? Shadow::Owed::Kill : Shadow::Owed::Continue);
  return s;
}

void ShadowService::kick() {
  if (ev_is_active(&kick_)) return;  // libev: no ev_timer_set on an active timer
  ev_timer_set(&kick_, 0., 0.);
  ev_timer_start(loop_, &kick_);
}

void ShadowService::on_kick(struct ev_loop*, ev_timer* w, int) { static_cast<ShadowService*>(w->data)->deliver(); }

void ShadowService::deliver() {
  if (!server_) return;
  for (auto& [vpid, sh] : shadows_) {
    if (!sh->waiting || sh->events.empty()) continue;
    uint64_t conn = sh->waiting;
    sh->waiting = 0;
    if (!server_->is_open(conn)) continue;  // it reconnects and waits again
    Event e = std::move(sh->events.front());
    sh->events.pop_front();
    if (e.event.kind == wire::ShadowEventKind::Stopped) sh->stop_sent = true;
    server_->send_later(conn, e.event, std::move(e.fds));
  }
  server_->reap_closed();
}

void ShadowService::on_exit(struct ev_loop*, ev_io* w, int) {
  auto* sh = static_cast<Shadow*>(w->data);
  ShadowService* self = sh->owner;
  VPid v = sh->vpid;
  RealPid real = sh->real;
  bool told = sh->exit_pushed;
  self->drop(*sh);
  if (told) {
    self->log_.event("shadow of vpid %u (pid %u) exited", v.value, real.value);
    return;
  }
  self->log_.event("shadow of vpid %u (pid %u) exited before its guest", v.value, real.value);
  if (self->gone_) self->gone_(v);
}

void ShadowService::drop(Shadow& s) {
  ev_io_stop(loop_, &s.exit_watcher);
  if (s.pidfd >= 0) close(s.pidfd);
  for (Event& e : s.events) close_all(e.fds);
  shadows_.erase(s.vpid.value);  // destroys `s`
  update_poll();
}

}  // namespace vproc::daemon
