// The source of a migration: the process runs here. Checkpoint it (the
// process waits for the verdict in its checkpoint handler), send the image,
// and decide when the target says its guest is ready.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "ckpt_request.h"
#include "loop_task.h"
#include "migration_service.h"
#include "migration_state.h"
#include "shadow_service.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

// Which of fds 0-2 the checkpointer saves as the restoring command's stdio
// (docs/checkpoint.md: a tty, pipe or socket): those are forwarded through
// the shadow. Regular files and devices are reopened on the target.
uint8_t stdio_mask_of(RealPid pid) {
  uint8_t mask = 0;
  for (int fd = 0; fd < 3; ++fd) {
    struct stat st;
    std::string path = strf("/proc/%u/fd/%d", pid.value, fd);
    if (stat(path.c_str(), &st) != 0) continue;
    bool tty = S_ISCHR(st.st_mode) && (major(st.st_rdev) == 4 || major(st.st_rdev) == 5 ||
                                       (major(st.st_rdev) >= 136 && major(st.st_rdev) <= 143));
    if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || tty) mask |= uint8_t(1u << fd);
  }
  return mask;
}

}  // namespace

bool Migrations::request(const Peer& caller, const wire::MigrateRequest& m, ConnectionId conn, wire::Reply& now) {
  auto fail = [&](int err, const std::string& msg) {
    wire::MigrateDone d;
    d.err = err;
    d.message.set(msg.c_str());
    now = d;
    return false;
  };
  int target = peers_.index_of(m.node.s);
  if (target < 0) return fail(ENOENT, strf("unknown host '%s' (not in the cluster file)", m.node.s));
  VPid v{m.vpid};
  if (!valid_vpid(m.vpid)) return fail(ESRCH, strf("%u is not a vpid", m.vpid));
  ProcUids uids;
  MigrateOut out;
  out.vpid = m.vpid;
  out.target = uint32_t(target);
  out.uid = read_proc_uids(caller.pid, uids) ? uids.real : caller.uid;
  out.euid = caller.uid;
  out.flags = m.flags;
  auto answer = [this, conn](const MigrateOutcome& o) {
    wire::MigrateDone d;
    d.err = o.err;
    d.message.set(o.message.c_str());
    d.from.set(peers_.name_of(o.from).c_str());
    d.to.set(peers_.name_of(o.to).c_str());
    d.image_bytes = o.image_bytes;
    d.frozen_ns = o.frozen_ns;
    d.total_ns = o.total_ns;
    if (reply_later_) reply_later_(conn, d);
  };
  // Where does it run? Its home knows; our own vpids we know ourselves.
  peers_.where(v, [this, out, answer](Status s, uint32_t node) {
    if (!s.ok()) {
      MigrateOutcome o;
      o.err = s.err;
      o.message = s.message;
      // Its home keeps its shadow (the parent's end) and its streams: no move
      // without it, and where it runs nothing changes.
      if (s.err == EHOSTUNREACH || s.err == ETIMEDOUT)
        o.message = strf("its home node cannot be reached (%s); a migration needs it, and the process runs on "
                         "unchanged", s.message.c_str());
      o.to = out.target;
      return answer(o);
    }
    if (node == out.target) {
      MigrateOutcome o;
      o.err = EINVAL;
      o.message = strf("vpid %u already runs on %s", out.vpid, peers_.name_of(node).c_str());
      o.from = o.to = node;
      return answer(o);
    }
    if (node == peers_.self()) return start_out(out, answer);
    peers_.migrate_out(node, out, [answer, node, out](Status s2, const MigrateOutcome& o) {
      if (s2.ok()) return answer(o);
      MigrateOutcome f;
      f.err = s2.err;
      f.message = s2.message;
      f.from = node;
      f.to = out.target;
      answer(f);
    });
  });
  return true;
}

void Migrations::on_migrate_out(const MigrateOut& m, std::function<void(const MigrateOutcome&)> respond) {
  start_out(m, std::move(respond));
}

Status Migrations::check_out(const MigrateOut& m, const ProcessRecord*& rec) const {
  VPid v{m.vpid};
  rec = table_.find(v);
  if (!rec || rec->thread || rec->state != RecordState::Alive)
    return Status::failure(ESRCH,
                           strf("no process with vpid %u runs on %s", m.vpid, peers_.name_of(peers_.self()).c_str()));
  if (!rec->guest && rec->location >= 0)
    return Status::failure(EAGAIN,
                           strf("vpid %u runs on %s now", m.vpid, peers_.name_of(uint32_t(rec->location)).c_str()));
  if (m.target == peers_.self())
    return Status::failure(EINVAL, strf("vpid %u already runs on %s", m.vpid, peers_.name_of(m.target).c_str()));
  if (m.target >= peers_.node_count()) return Status::failure(ENOENT, strf("no node with index %u", m.target));
  if (m.uid != 0 && m.euid != 0 && m.uid != rec->uid && m.euid != rec->uid)
    return Status::failure(EPERM, strf("vpid %u belongs to uid %u; only its owner or root may migrate it", m.vpid,
                                       rec->uid));
  for (const auto& [id, o] : outgoing_)
    if (o->vpid == v) return Status::failure(EBUSY, strf("vpid %u is being migrated already", m.vpid));
  return Status::success();
}

void Migrations::start_out(const MigrateOut& m, std::function<void(const MigrateOutcome&)> respond) {
  const ProcessRecord* rec = nullptr;
  Status s = check_out(m, rec);
  for (const auto& [id, p] : prechecks_)
    if (s.ok() && p.first.value == m.vpid) s = Status::failure(EBUSY, strf("vpid %u is being migrated already", m.vpid));
  if (!s.ok()) {
    MigrateOutcome fail;
    fail.from = peers_.self();
    fail.to = m.target;
    fail.err = s.err;
    fail.message = s.message;
    return respond(fail);
  }
  precheck_out(m, rec->real, std::move(respond));
}

void Migrations::checkpoint_out(const MigrateOut& m, std::function<void(const MigrateOutcome&)> respond,
                                double requested) {
  VPid v{m.vpid};
  MigrateOutcome fail;
  fail.from = peers_.self();
  fail.to = m.target;
  auto refuse = [&](int err, const std::string& msg) {
    fail.err = err;
    fail.message = msg;
    respond(fail);
  };
  // Again: things may have changed while the target looked at the files.
  const ProcessRecord* rec = nullptr;
  if (Status s = check_out(m, rec); !s.ok()) return refuse(s.err, s.message);

  auto o = std::make_unique<Outgoing>();
  o->id = new_id();
  o->vpid = v;
  o->target = m.target;
  o->flags = m.flags;
  o->started = requested;
  o->frozen_since = ev_time();  // the checkpoint stops the process from now until the commit
  // The snapshot writer runs as the process's user: its image goes into a
  // directory of that user inside the spool.
  struct stat pst;
  std::string proc = strf("/proc/%u", rec->real.value);
  if (stat(proc.c_str(), &pst) != 0) return refuse(ESRCH, strf("vpid %u has exited", m.vpid));
  o->uid = pst.st_uid;
  o->gid = pst.st_gid;
  o->parent = rec->parent;
  o->stdio_mask = stdio_mask_of(rec->real);
  Status s = spool_.make_user_dir(o->id, o->uid, o->gid, o->dir);
  if (!s.ok()) return refuse(s.err, s.message);
  o->image = o->dir + "/image.vpimg";
  uint64_t id = o->id;
  uint32_t flags = kCkptMigrate | (m.flags & kCkptEmbedFiles);
  s = checkpoints_.start(v, o->image, flags, [this, id](const wire::Reply& r) { checkpoint_done(id, r); });
  if (!s.ok()) {
    spool_.remove_migration(id);
    return refuse(s.err, s.message);
  }
  o->respond = std::move(respond);  // only now: `refuse` above answers through it
  log_.event("migration %llx: vpid %u %s -> %s: checkpointing", (unsigned long long)id, v.value,
             peers_.name_of(peers_.self()).c_str(), peers_.name_of(m.target).c_str());
  outgoing_[id] = std::move(o);
}

Migrations::Outgoing* Migrations::out_by_request(uint32_t request_id) {
  for (auto& [id, o] : outgoing_)
    if (o->request_id == request_id && request_id) return o.get();
  return nullptr;
}

void Migrations::checkpoint_done(uint64_t id, const wire::Reply& r) {
  auto it = outgoing_.find(id);
  if (it == outgoing_.end()) return;
  Outgoing& o = *it->second;
  if (const auto* e = std::get_if<wire::Error>(&r)) return abort_out(o, Status::failure(e->err, e->message.s));
  const auto* done = std::get_if<wire::CheckpointDone>(&r);
  if (!done) return abort_out(o, Status::failure(EPROTO, "unexpected checkpoint outcome"));
  o.request_id = done->result.request_id;
  if (done->result.err)
    return abort_out(o, Status::failure(done->result.err, strf("checkpoint failed: %s", done->result.message.s)));
  o.image_bytes = done->result.image_bytes;
  send_image(o);
}

void Migrations::send_image(Outgoing& o) {
  o.stage = Outgoing::Stage::Sending;
  uint64_t id = o.id;
  uint32_t target = o.target;
  // Connecting and the handshake block: a worker thread does them.
  o.connect = std::make_unique<LoopTask>(loop_);
  auto fd = std::make_shared<int>(-1);
  auto why = std::make_shared<std::string>();
  o.connect->start([this, target, fd, why] { *fd = peers_.open_image_channel(target, *why); },
                   [this, id, fd, why] {
                     auto it = outgoing_.find(id);
                     if (it == outgoing_.end()) {
                       if (*fd >= 0) close(*fd);
                       return;
                     }
                     Outgoing& o = *it->second;
                     if (*fd < 0)
                       return abort_out(o, Status::failure(-*fd, strf("%s: cannot send it the image: %s",
                                                                      peers_.name_of(o.target).c_str(), why->c_str())));
                     ImageOffer offer;
                     offer.migration = o.id;
                     offer.vpid = o.vpid.value;
                     offer.source_node = peers_.self();
                     offer.stdio_mask = o.stdio_mask;
                     offer.parent = o.parent;
                     offer.uid = o.uid;
                     offer.gid = o.gid;
                     offer.flags = o.flags;
                     o.sender = std::make_unique<ImageSender>(loop_);
                     o.sender->start(*fd, o.image, offer, [this, id](const Status& s) { image_sent(id, s); });
                   });
}

void Migrations::image_sent(uint64_t id, const Status& s) {
  auto it = outgoing_.find(id);
  if (it == outgoing_.end()) return;
  Outgoing& o = *it->second;
  if (!s.ok()) {
    bool says_so = s.message.rfind("sending the image", 0) == 0;
    return abort_out(o, Status::failure(s.err, strf("%s: %s%s", peers_.name_of(o.target).c_str(),
                                                    says_so ? "" : "sending the image: ", s.message.c_str())));
  }
  o.stage = Outgoing::Stage::AwaitReady;
  o.deadline = ev_now(loop_) + limits_.ready_timeout_s;
  log_.event("migration %llx: image sent (%llu bytes), waiting for %s", (unsigned long long)id,
             (unsigned long long)o.image_bytes, peers_.name_of(o.target).c_str());
}

void Migrations::on_ready(const ReadyMsg& m, std::function<void(Decision)> respond) {
  auto it = outgoing_.find(m.migration);
  if (it == outgoing_.end()) {
    auto d = decided_.find(m.migration);
    return respond(d == decided_.end() ? Decision::Abort : d->second);
  }
  Outgoing& o = *it->second;
  if (m.err) {
    respond(Decision::Abort);
    return abort_out(o, Status::failure(m.err, strf("%s: could not restore it: %s", peers_.name_of(o.target).c_str(),
                                                    m.message.c_str())));
  }
  if (o.stage != Outgoing::Stage::AwaitReady && o.stage != Outgoing::Stage::Sending) return respond(Decision::Pending);
  o.ready_respond = std::move(respond);
  commit(o, m.real);
}

void Migrations::commit(Outgoing& o, uint32_t real) {
  o.stage = Outgoing::Stage::Committing;
  o.deadline = ev_now(loop_) + 10;
  const ProcessRecord* rec = table_.find(o.vpid);
  uint64_t id = o.id;
  if (rec && !rec->guest && !rec->shadow) {
    // First migration: the process becomes its own shadow; its registration
    // (shadow_registered) is the commit point.
    give_verdict(o, wire::VerdictAction::Shadow);
    return;
  }
  // The process here is a guest (or came back home and has a shadow already):
  // the home node learns where it runs, then this copy quits.
  take_stdin(o);  // while this copy is still the record's process
  uint32_t home = home_node_of(o.vpid);
  RelocatedMsg rm{o.vpid.value, o.target, real, id};
  auto after = [this, id](Status s) {
    auto it = outgoing_.find(id);
    if (it == outgoing_.end()) return;
    Outgoing& o = *it->second;
    if (!s.ok())
      return abort_out(o, Status::failure(s.err, strf("%s (its home node) did not take the move: %s",
                                                      peers_.name_of(home_node_of(o.vpid)).c_str(), s.message.c_str())));
    for (auto& [iid, in] : incoming_)
      if (in->vpid == o.vpid && in->stage == Incoming::Stage::Running) in->stage = Incoming::Stage::MovedOn;
    if (table_.find(o.vpid) && table_.find(o.vpid)->guest) table_.remove_guest(o.vpid);
    hand_over_stdin(o);
    give_verdict(o, wire::VerdictAction::Quit);
    committed(id);
  };
  if (home == peers_.self()) {
    after(on_relocated(rm));
  } else {
    peers_.relocated(home, rm, after);
  }
}

void Migrations::take_stdin(Outgoing& o) {
  const ProcessRecord* rec = table_.find(o.vpid);
  for (auto& [iid, in] : incoming_) {
    if (in->vpid != o.vpid || in->stage != Incoming::Stage::Running) continue;
    o.stdin_forwarded = in->offer.stdio_mask & 1;
    if (o.stdin_forwarded && rec && o.old_stdin < 0) o.old_stdin = take_stdin_socket(rec->real, in->stdin_ino);
    return;
  }
}

void Migrations::hand_over_stdin(Outgoing& o) {
  if (!o.stdin_forwarded) return;
  uint64_t id = o.id;
  VPid v = o.vpid;
  uint32_t home = home_node_of(v);
  StdinHandover::Open open;
  if (home == peers_.self()) {
    // The shadow is here: a socket pair, its end filed with the migration's channels.
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      log_.warning("migration %llx: no socket pair for the unread stdin of vpid %u: %s", (unsigned long long)id,
                   v.value, strerror(errno));
      return;
    }
    add_channel(v, id, 3, sv[1]);
    int mine = sv[0];
    open = [mine](std::string&) { return mine; };
  } else {
    open = [this, home, v, id](std::string& why) { return peers_.open_stdio_channel(home, v, id, 3, why); };
  }
  auto h = std::make_unique<StdinHandover>(loop_);
  StdinHandover* raw = h.get();
  handovers_[id] = std::move(h);
  int old = std::exchange(o.old_stdin, -1);
  raw->start(old, std::move(open), [this, id, v](bool ok, uint64_t bytes, const std::string& why) {
    if (ok) {
      if (bytes) log_.event("migration %llx: %llu bytes of unread stdin back to vpid %u's shadow",
                            (unsigned long long)id, (unsigned long long)bytes, v.value);
    } else {
      log_.warning("migration %llx: the unread stdin of vpid %u (%llu bytes handed over): %s",
                   (unsigned long long)id, v.value, (unsigned long long)bytes, why.c_str());
    }
    auto it = handovers_.find(id);
    if (it == handovers_.end()) return;
    handover_graveyard_.push_back(std::move(it->second));  // the caller: freed on the next tick
    handovers_.erase(it);
  });
}

Status Migrations::shadow_registered(VPid v, uint64_t migration, uint32_t target) {
  auto it = outgoing_.find(migration);
  auto d = decided_.find(migration);
  if (it == outgoing_.end() && d != decided_.end() && d->second == Decision::Abort)
    return Status::failure(ECANCELED, strf("migration %llx was aborted", (unsigned long long)migration));
  const ProcessRecord* rec = table_.find(v);
  if (it == outgoing_.end() && d == decided_.end() && rec && !rec->guest && rec->location >= 0) {
    // Its Hello again, to a daemon that restarted: the shadow names its own
    // (first) migration, but the table knows where the process runs now, and
    // the migration that took it there if it went straight from here.
    if (rec->migration == 0 && rec->location == int(target)) return table_.set_location(v, rec->location, migration);
    return Status::success();
  }
  Status s = table_.set_location(v, int(target), migration);
  if (!s.ok()) return s;
  decided_[migration] = Decision::Commit;
  push_channels(v, migration);
  if (it != outgoing_.end()) committed(migration);
  return Status::success();
}

void Migrations::committed(uint64_t id) {
  auto it = outgoing_.find(id);
  if (it == outgoing_.end()) return;
  Outgoing& o = *it->second;
  decided_[id] = Decision::Commit;
  if (o.ready_respond) o.ready_respond(Decision::Commit);
  o.ready_respond = nullptr;
  double now = ev_time();
  MigrateOutcome out;
  out.from = peers_.self();
  out.to = o.target;
  out.image_bytes = o.image_bytes;
  out.frozen_ns = uint64_t((now - o.frozen_since) * 1e9);
  out.total_ns = uint64_t((now - o.started) * 1e9);
  log_.event("migration %llx: vpid %u now runs on %s", (unsigned long long)id, o.vpid.value,
             peers_.name_of(o.target).c_str());
  finish_out(id, out);
}

void Migrations::give_verdict(Outgoing& o, wire::VerdictAction action) {
  o.verdict = action;
  if (!o.writer_conn) return;  // given when the writer asks (migrate_wait)
  ConnectionId conn = o.writer_conn;
  o.writer_conn = 0;
  bool sent = reply_later_ && reply_later_(conn, wire::Verdict{action, o.target, o.id});
  // A writer that is gone took the pipe to the process with it: the process
  // read EOF and went on here.
  if (!sent && action != wire::VerdictAction::Continue)
    abort_out(o, Status::failure(EPIPE, "the checkpoint writer went away before the verdict"));
}

bool Migrations::migrate_wait(const Peer&, const wire::MigrateWait& m, ConnectionId conn, wire::Reply& now) {
  Outgoing* o = out_by_request(m.request_id);
  if (!o) {
    // Decided already (or never ours): the verdict it was given, else continue.
    auto f = finished_requests_.find(m.request_id);
    now = wire::Verdict{f == finished_requests_.end() ? wire::VerdictAction::Continue : f->second, 0, 0};
    return false;
  }
  if (o->verdict) {
    now = wire::Verdict{*o->verdict, o->target, o->id};
    return false;
  }
  o->writer_conn = conn;
  return true;
}

void Migrations::abort_out(Outgoing& o, const Status& why) {
  uint64_t id = o.id;
  decided_[id] = Decision::Abort;
  log_.warning("migration %llx of vpid %u aborted: %s", (unsigned long long)id, o.vpid.value, why.message.c_str());
  if (o.sender) o.sender->cancel();
  if (o.ready_respond) o.ready_respond(Decision::Abort);
  o.ready_respond = nullptr;
  if (!o.verdict || *o.verdict == wire::VerdictAction::Continue) {
    o.verdict.reset();
    give_verdict(o, wire::VerdictAction::Continue);
  }
  MigrateOutcome out;
  out.err = why.err ? why.err : EIO;
  out.message = why.message + strf("; vpid %u continues on %s", o.vpid.value, peers_.name_of(peers_.self()).c_str());
  out.from = peers_.self();
  out.to = o.target;
  finish_out(id, out);
}

void Migrations::finish_out(uint64_t id, MigrateOutcome outcome) {
  auto it = outgoing_.find(id);
  if (it == outgoing_.end()) return;
  std::unique_ptr<Outgoing> o = std::move(it->second);
  outgoing_.erase(it);
  // A writer still waiting gets its verdict when it asks: keep the answer.
  if (o->writer_conn && !o->verdict) give_verdict(*o, wire::VerdictAction::Continue);
  if (o->request_id && o->verdict && !o->writer_conn) finished_requests_[o->request_id] = *o->verdict;
  if (o->old_stdin >= 0) close(std::exchange(o->old_stdin, -1));  // aborted: the copy keeps its input
  spool_.remove_migration(id);
  auto respond = std::move(o->respond);
  graveyard_.push_back(std::move(o));  // its sender/task may be the caller
  if (respond) respond(outcome);
}

}  // namespace vproc::daemon
