// The target of a migration: receive the image, open the guest's stdio
// sockets to its home node, restore the guest (held before its first
// instruction of program code), tell the source it is ready, and let it run
// or kill it as the source decides.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "migration_service.h"
#include "migration_state.h"
#include "proc_stat.h"
#include "strf.h"

namespace vproc::daemon {

void Migrations::on_image_connection(int fd) {
  uint64_t key = new_id();
  auto rx = std::make_unique<ImageReceiver>(loop_, spool_);
  ImageReceiver* raw = rx.get();
  receiving_[key] = std::move(rx);
  raw->start(fd, [this, key](const Status& s, const ReceivedImage& img) {
    auto it = receiving_.find(key);
    std::unique_ptr<ImageReceiver> keep;
    if (it != receiving_.end()) {
      keep = std::move(it->second);
      receiving_.erase(it);
    }
    if (!s.ok()) {
      log_.warning("incoming image refused or failed: %s", s.message.c_str());
    } else {
      auto in = std::make_unique<Incoming>();
      in->id = img.offer.migration;
      in->vpid = VPid{img.offer.vpid};
      in->offer = img.offer;
      in->image = img.path;
      in->deadline = ev_now(loop_) + limits_.ready_timeout_s;
      if (incoming_.count(in->id)) {
        log_.warning("migration %llx: image received twice", (unsigned long long)in->id);
      } else {
        Incoming& ref = *in;
        incoming_[in->id] = std::move(in);
        log_.event("migration %llx: image of vpid %u from %s received", (unsigned long long)ref.id,
                   ref.vpid.value, peers_.name_of(ref.offer.source_node).c_str());
        prepare_guest(ref);
      }
    }
    receiver_graveyard_.push_back(std::move(keep));  // it is the caller: freed on the next tick
  });
}

void Migrations::prepare_guest(Incoming& in) {
  uint64_t id = in.id;
  uint32_t home = home_node_of(in.vpid);
  uint8_t mask = in.offer.stdio_mask;
  if (home == peers_.self()) {
    // Coming home: the shadow is here; a socket pair per stream.
    auto& theirs = channels_[id];
    theirs = {-1, -1, -1, -1};
    for (int fd = 0; fd < 3; ++fd) {
      if (!(mask & (1u << fd))) continue;
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return fail_in(id, errno, strf("socketpair: %s", strerror(errno)));
      in.stdio[fd] = sv[0];
      theirs[fd] = sv[1];
    }
    in.stdin_ino = socket_inode(in.stdio[0]);
    return launch_guest(id);
  }
  // Connecting and the handshakes block: a worker thread does them.
  in.stage = Incoming::Stage::Preparing;
  in.connect = std::make_unique<LoopTask>(loop_);
  auto fds = std::make_shared<std::array<int, 3>>(std::array<int, 3>{-1, -1, -1});
  auto why = std::make_shared<std::string>();
  VPid v = in.vpid;
  in.connect->start(
      [this, home, mask, v, id, fds, why] {
        for (int fd = 0; fd < 3; ++fd) {
          if (!(mask & (1u << fd))) continue;
          int s = peers_.open_stdio_channel(home, v, id, fd, *why);
          if (s < 0) return;
          (*fds)[fd] = s;
        }
      },
      [this, id, fds, why, mask] {
        auto it = incoming_.find(id);
        int opened = 0;
        for (int fd = 0; fd < 3; ++fd) opened += (*fds)[fd] >= 0;
        if (it == incoming_.end()) {
          for (int s : *fds)
            if (s >= 0) close(s);
          return;
        }
        Incoming& in = *it->second;
        in.stdio = *fds;
        in.stdin_ino = socket_inode(in.stdio[0]);
        if (opened != __builtin_popcount(mask))
          return fail_in(id, EHOSTUNREACH, strf("cannot forward its stdio to its home node: %s", why->c_str()));
        launch_guest(id);
      });
}

void Migrations::launch_guest(uint64_t id) {
  Incoming& in = *incoming_.at(id);
  // The restore runs as the process's user and must read the image.
  if (chown(in.image.c_str(), in.offer.uid, in.offer.gid) != 0 && geteuid() == 0)
    return fail_in(id, errno, strf("chown %s: %s", in.image.c_str(), strerror(errno)));
  in.stage = Incoming::Stage::Restoring;
  in.launcher = std::make_unique<GuestLauncher>(
      loop_, vproc_path_, socket_path_, id, in.image, in.stdio, in.offer.uid, in.offer.gid,
      [this, id](int status, const std::string& report) { guest_ended(id, status, report); });
  Status s = in.launcher->start();
  // The guest has its copies of the stdio sockets now.
  for (int& fd : in.stdio)
    if (fd >= 0) close(std::exchange(fd, -1));
  if (!s.ok()) return fail_in(id, s.err, s.message);
}

Status Migrations::restored(const Peer& peer, const wire::Restored& m) {
  auto it = incoming_.find(m.migration);
  if (it == incoming_.end())
    return Status::failure(ENOENT, strf("no migration %llx is arriving here", (unsigned long long)m.migration));
  Incoming& in = *it->second;
  if (in.vpid.value != m.vpid || in.stage != Incoming::Stage::Restoring)
    return Status::failure(EINVAL, strf("migration %llx does not bring vpid %u now", (unsigned long long)m.migration,
                                        m.vpid));
  // Only the child of the keeper we started.
  ProcStat st;
  if (m.real != peer.pid.value || !in.launcher || !read_proc_stat(peer.pid, st) ||
      int(st.ppid) != in.launcher->keeper_pid())
    return Status::failure(EPERM, strf("pid %u is not the restore this node started", peer.pid.value));
  Status s = table_.add_guest(peer, in.vpid, m.parent ? m.parent : in.offer.parent, in.id);
  if (s.ok()) in.guest = peer.pid;
  return s;
}

bool Migrations::resumed(const Peer& peer, const wire::Resumed& m, ConnectionId conn, wire::Reply& now) {
  for (auto& [id, inp] : incoming_) {
    Incoming& in = *inp;
    if (in.vpid.value != m.vpid || in.guest != peer.pid) continue;
    if (in.stage == Incoming::Stage::Running || in.stage == Incoming::Stage::MovedOn) {
      now = wire::Ok{};  // said again after a reconnect
      return false;
    }
    in.stage = Incoming::Stage::Paused;
    in.resumed_conn = conn;
    send_ready(in, 0, "");
    return true;
  }
  // Not a guest of a pending migration (a plain restore): nothing to wait for.
  now = wire::Ok{};
  return false;
}

void Migrations::send_ready(Incoming& in, int err, const std::string& message) {
  in.ready_sent = true;
  uint64_t id = in.id;
  ReadyMsg r{id, in.vpid.value, in.guest.value, err, message};
  peers_.ready(in.offer.source_node, r, [this, id](Status s, Decision d) {
    auto it = incoming_.find(id);
    if (it == incoming_.end()) return;
    if (!s.ok()) {
      // No answer: ask again every tick (MigrationStatus) until it decides.
      it->second->unknown_since = ev_now(loop_);
      log_.warning("migration %llx: the source did not answer Ready: %s", (unsigned long long)id, s.message.c_str());
      return;
    }
    it->second->ready_answered = true;
    decided(id, d);
  });
}

void Migrations::decided(uint64_t id, Decision d) {
  auto it = incoming_.find(id);
  if (it == incoming_.end()) return;
  Incoming& in = *it->second;
  if (d == Decision::Pending || d == Decision::Unknown) return;
  if (in.stage != Incoming::Stage::Paused) {
    if (d == Decision::Abort) fail_in(id, ECANCELED, "aborted by the source");
    return;
  }
  if (d == Decision::Commit) {
    in.stage = Incoming::Stage::Running;
    if (reply_later_) reply_later_(in.resumed_conn, wire::Ok{});
    in.resumed_conn = 0;
    // The guest's memory came from the image lazily; MAP_PRIVATE pages keep
    // the file's inode alive, so the name can go now.
    unlink(in.image.c_str());
    log_.event("migration %llx: vpid %u runs here as pid %u", (unsigned long long)id, in.vpid.value,
               in.guest.value);
    return;
  }
  fail_in(id, ECANCELED, "aborted by the source");
}

void Migrations::fail_in(uint64_t id, int err, const std::string& message) {
  auto it = incoming_.find(id);
  if (it == incoming_.end()) return;
  Incoming& in = *it->second;
  log_.warning("migration %llx: vpid %u not restored here: %s", (unsigned long long)id, in.vpid.value,
               message.c_str());
  if (in.resumed_conn && reply_later_) {
    wire::Error e;
    e.err = ECANCELED;
    e.message.set("the migration was aborted");
    reply_later_(in.resumed_conn, e);
    in.resumed_conn = 0;
  }
  if (in.guest) {
    ProcStat st;
    const ProcessRecord* g = table_.find(in.vpid);
    if (g && g->real == in.guest) {
      kill(pid_t(in.guest.value), SIGKILL);
      table_.remove_guest(in.vpid);
    }
  }
  if (!in.ready_sent) send_ready(in, err ? err : EIO, message);
  in.stage = Incoming::Stage::Failed;
  for (int& fd : in.stdio)
    if (fd >= 0) close(std::exchange(fd, -1));
  if (home_node_of(in.vpid) == peers_.self()) {
    auto c = channels_.find(id);
    if (c != channels_.end()) {
      for (int fd : c->second)
        if (fd >= 0) close(fd);
      channels_.erase(c);
    }
  }
  unlink(in.image.c_str());
  // The record goes when the keeper has exited (guest_ended), or now if none runs.
  if (!in.launcher || in.launcher->keeper_pid() <= 0) close_in(id);
}

void Migrations::guest_ended(uint64_t id, int status, const std::string& report) {
  auto it = incoming_.find(id);
  if (it == incoming_.end()) return;
  Incoming& in = *it->second;
  if (in.stage == Incoming::Stage::Restoring || in.stage == Incoming::Stage::Preparing ||
      in.stage == Incoming::Stage::Paused) {
    std::string why = !report.empty() ? report
                      : WIFEXITED(status) ? strf("the restore exited with status %d", WEXITSTATUS(status))
                                          : strf("the restore died of signal %d", WTERMSIG(status));
    fail_in(id, EIO, why);
  }
  close_in(id);
}

void Migrations::close_in(uint64_t id) {
  auto it = incoming_.find(id);
  if (it == incoming_.end()) return;
  in_graveyard_.push_back(std::move(it->second));  // its launcher may be the caller
  incoming_.erase(it);
}

Status Migrations::guest_status(const Peer& peer, const wire::GuestStatus& m) {
  for (auto& [id, inp] : incoming_) {
    Incoming& in = *inp;
    if (in.vpid.value != m.vpid || !in.launcher || in.launcher->keeper_pid() != int(peer.pid.value)) continue;
    if (in.stage != Incoming::Stage::Running) return Status::success();  // a failed or moved-on copy
    if (m.kind == wire::GuestChange::Exited) table_.remove_guest(in.vpid);
    report_guest(in.vpid, in.id, m.kind, m.status);
    return Status::success();
  }
  return Status::failure(ENOENT, strf("vpid %u is not a guest whose keeper is pid %u", m.vpid, peer.pid.value));
}

void Migrations::on_kill_guest(VPid v, uint64_t migration) {
  const ProcessRecord* g = table_.find(v);
  if (!g || (g->guest && g->migration != migration)) return;
  if (g->guest || (g->shadow && g->real != g->shadow)) {
    log_.event("killing guest vpid %u (pid %u): its shadow is gone", v.value, g->real.value);
    kill(pid_t(g->real.value), SIGKILL);
  }
}

}  // namespace vproc::daemon
