// MigrationPeers on the cluster transport: the migration requests as
// common/peer.capnp messages, and the handlers that answer them.
#include "peer_migration.h"

#include <cerrno>

#include "migration_service.h"
#include "peer.capnp.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

constexpr double kShortTimeout = 5;
// Where does it run: one small answer from its home (`migrate` of a process
// whose home is cut off should say so soon).
constexpr double kWhereTimeout = 2;
// A migration's answer comes when it has ended: checkpoint, transfer and
// restore of a large image.
constexpr double kMigrateTimeout = 600;
// A progress display asks ten times a second: an answer later than this is
// stale anyway.
constexpr double kProgressTimeout = 2;

MigrateOutcome outcome_of(peer::Migrated::Reader r) {
  MigrateOutcome o;
  o.err = r.getErrno();
  o.message = r.getMessage();
  o.from = r.getFrom();
  o.to = r.getTo();
  o.image_bytes = r.getImageBytes();
  o.frozen_ns = r.getFrozenNs();
  o.total_ns = r.getTotalNs();
  return o;
}

Decision decision_of(uint8_t d) {
  return d >= 1 && d <= 4 ? Decision(d) : Decision::Unknown;
}

}  // namespace

PeerMigration::PeerMigration(Cluster& cluster, ProcessTable& table) : cluster_(cluster), table_(table) {}

void PeerMigration::where(VPid v, std::function<void(Status, uint32_t)> done) {
  uint32_t home = home_node_of(v);
  if (home >= cluster_.node_count())
    return done(Status::failure(ESRCH, strf("vpid %u belongs to no node of this cluster", v.value)), 0);
  if (home == cluster_.self()) {
    const ProcessRecord* rec = table_.find(v);
    if (!rec || rec->thread || !rec->live())
      return done(Status::failure(ESRCH, strf("no such vpid %u", v.value)), 0);
    return done(Status::success(), rec->location >= 0 ? uint32_t(rec->location) : cluster_.self());
  }
  cluster_.request(home, kWhereTimeout, [&](peer::PeerRequest::Builder b) { b.setLookup(v.value); },
                   [done](const Status& s, peer::PeerReply::Reader r) {
                     if (!s.ok()) return done(s, 0);
                     if (!r.isWhere()) return done(Status::failure(EPROTO, "unexpected answer to a lookup"), 0);
                     done(Status::success(), r.getWhere().getNode());
                   });
}

void PeerMigration::migrate_out(uint32_t node, const MigrateOut& m,
                                std::function<void(Status, const MigrateOutcome&)> done) {
  cluster_.request(
      node, kMigrateTimeout,
      [&](peer::PeerRequest::Builder b) {
        auto o = b.initMigrateOut();
        o.setVpid(m.vpid);
        o.setTarget(m.target);
        o.setUid(m.uid);
        o.setEuid(m.euid);
        o.setFlags(m.flags);
      },
      [done](const Status& s, peer::PeerReply::Reader r) {
        if (!s.ok()) return done(s, {});
        if (!r.isMigrated()) return done(Status::failure(EPROTO, "unexpected answer to a migration"), {});
        done(Status::success(), outcome_of(r.getMigrated()));
      });
}

void PeerMigration::ready(uint32_t node, const ReadyMsg& m, std::function<void(Status, Decision)> done) {
  cluster_.request(
      node, kShortTimeout + 10,
      [&](peer::PeerRequest::Builder b) {
        auto o = b.initReady();
        o.setMigration(m.migration);
        o.setVpid(m.vpid);
        o.setReal(m.real);
        o.setErrno(m.err);
        o.setMessage(m.message);
      },
      [done](const Status& s, peer::PeerReply::Reader r) {
        if (!s.ok()) return done(s, Decision::Unknown);
        if (!r.isDecision()) return done(Status::failure(EPROTO, "unexpected answer to Ready"), Decision::Unknown);
        done(Status::success(), decision_of(r.getDecision()));
      });
}

void PeerMigration::status(uint32_t node, uint64_t migration, std::function<void(Status, Decision)> done) {
  cluster_.request(node, kShortTimeout, [&](peer::PeerRequest::Builder b) { b.setMigrationStatus(migration); },
                   [done](const Status& s, peer::PeerReply::Reader r) {
                     if (!s.ok() || !r.isDecision()) return done(s.ok() ? Status::failure(EPROTO, "?") : s, Decision::Unknown);
                     done(Status::success(), decision_of(r.getDecision()));
                   });
}

void PeerMigration::relocated(uint32_t node, const RelocatedMsg& m, std::function<void(Status)> done) {
  cluster_.request(
      node, kShortTimeout,
      [&](peer::PeerRequest::Builder b) {
        auto o = b.initRelocated();
        o.setVpid(m.vpid);
        o.setNode(m.node);
        o.setReal(m.real);
        o.setMigration(m.migration);
      },
      [done](const Status& s, peer::PeerReply::Reader) { done(s); });
}

void PeerMigration::guest_changed(uint32_t node, const GuestChangedMsg& m, std::function<void(Status)> done) {
  cluster_.request(
      node, kShortTimeout,
      [&](peer::PeerRequest::Builder b) {
        auto o = b.initGuestChanged();
        o.setVpid(m.vpid);
        o.setKind(m.kind);
        o.setStatus(m.status);
        o.setMigration(m.migration);
      },
      [done](const Status& s, peer::PeerReply::Reader) { done(s); });
}

void PeerMigration::files_check(uint32_t node, const FilesInUse& files, std::function<void(Status)> done) {
  // The target may hash every file whose identity differs (another host's
  // copy): allow for reading them at 200 MiB/s; a lost link should not keep
  // the user waiting much longer than that.
  double bytes = 0;
  for (const image::MappedFile& f : files.mapped) bytes += double(f.size);
  cluster_.request(
      node, kShortTimeout + bytes / (200.0 * 1024 * 1024),
      [&](peer::PeerRequest::Builder b) {
        auto fc = b.initFilesCheck();
        auto mapped = fc.initMapped(unsigned(files.mapped.size()));
        for (unsigned i = 0; i < mapped.size(); ++i) {
          const image::MappedFile& f = files.mapped[i];
          auto x = mapped[i];
          x.setPath(f.path);
          x.setDev(f.dev);
          x.setIno(f.ino);
          x.setSize(f.size);
          x.setMtimeNs(f.mtime_ns);
          x.setContentHash(f.content_hash);
        }
        auto open = fc.initOpen(unsigned(files.open.size()));
        for (unsigned i = 0; i < open.size(); ++i) {
          open[i].setPath(files.open[i].path);
          open[i].setSize(files.open[i].size);
        }
      },
      [done](const Status& s, peer::PeerReply::Reader r) {
        if (!s.ok()) return done(s);
        if (!r.isOk()) return done(Status::failure(EPROTO, "unexpected answer to a files check"));
        done(Status::success());
      });
}

void PeerMigration::progress(uint32_t node, VPid v, std::function<void(Status, const wire::Progress&)> done) {
  cluster_.request(node, kProgressTimeout, [&](peer::PeerRequest::Builder b) { b.setMigrationProgress(v.value); },
                   [done](const Status& s, peer::PeerReply::Reader r) {
                     if (!s.ok()) return done(s, {});
                     if (!r.isProgress() || r.getProgress().getStage() > uint8_t(wire::MigrateStage::Committing))
                       return done(Status::failure(EPROTO, "unexpected answer to a progress question"), {});
                     auto p = r.getProgress();
                     done(Status::success(),
                          wire::Progress{wire::MigrateStage(p.getStage()), p.getBytesDone(), p.getBytesTotal()});
                   });
}

void PeerMigration::kill_guest(uint32_t node, VPid v, uint64_t migration) {
  cluster_.request(
      node, kShortTimeout,
      [&](peer::PeerRequest::Builder b) {
        auto o = b.initKillGuest();
        o.setVpid(v.value);
        o.setMigration(migration);
      },
      [](const Status&, peer::PeerReply::Reader) {});
}

int PeerMigration::open_image_channel(uint32_t node, std::string& why) {
  int fd = -1;
  Status s = cluster_.open_channel(node, [](peer::Open::Builder b) { b.initImage(); }, 5000, fd);
  if (!s.ok()) {
    why = s.message;
    return -(s.err ? s.err : EIO);
  }
  return fd;
}

int PeerMigration::open_stdio_channel(uint32_t node, VPid v, uint64_t migration, int which, std::string& why) {
  int fd = -1;
  Status s = cluster_.open_channel(
      node,
      [&](peer::Open::Builder b) {
        auto o = b.initStdio();
        o.setVpid(v.value);
        o.setMigration(migration);
        o.setFd(uint8_t(which));
      },
      5000, fd);
  if (!s.ok()) {
    why = s.message;
    return -(s.err ? s.err : EIO);
  }
  return fd;
}

void PeerMigration::serve(Migrations& m) {
  using K = peer::PeerRequest;
  Cluster& c = cluster_;
  c.handle(K::MIGRATE_OUT, [&c, &m](const PeerCall& call, K::Reader req) {
    auto r = req.getMigrateOut();
    MigrateOut out{r.getVpid(), r.getTarget(), r.getUid(), r.getEuid(), r.getFlags()};
    m.on_migrate_out(out, [&c, call](const MigrateOutcome& o) {
      c.reply(call, [&](peer::PeerReply::Builder b) {
        auto x = b.initMigrated();
        x.setErrno(o.err);
        x.setMessage(o.message);
        x.setFrom(o.from);
        x.setTo(o.to);
        x.setImageBytes(o.image_bytes);
        x.setFrozenNs(o.frozen_ns);
        x.setTotalNs(o.total_ns);
      });
    });
  });
  c.handle(K::FILES_CHECK, [&c, &m](const PeerCall& call, K::Reader req) {
    auto r = req.getFilesCheck();
    FilesInUse files;
    for (auto x : r.getMapped()) {
      image::MappedFile f;
      f.path = x.getPath();
      f.dev = x.getDev();
      f.ino = x.getIno();
      f.size = x.getSize();
      f.mtime_ns = x.getMtimeNs();
      f.content_hash = x.getContentHash();
      files.mapped.push_back(std::move(f));
    }
    for (auto x : r.getOpen()) files.open.push_back({x.getPath(), x.getSize()});
    m.on_files_check(std::move(files), [&c, call](Status s) {
      if (!s.ok()) return c.reply_error(call, s);
      c.reply(call, [](peer::PeerReply::Builder b) { b.setOk(); });
    });
  });
  c.handle(K::READY, [&c, &m](const PeerCall& call, K::Reader req) {
    auto r = req.getReady();
    ReadyMsg msg{r.getMigration(), r.getVpid(), r.getReal(), r.getErrno(), r.getMessage()};
    m.on_ready(msg, [&c, call](Decision d) {
      c.reply(call, [&](peer::PeerReply::Builder b) { b.setDecision(uint8_t(d)); });
    });
  });
  c.handle(K::MIGRATION_STATUS, [&c, &m](const PeerCall& call, K::Reader req) {
    Decision d = m.on_status(req.getMigrationStatus());
    c.reply(call, [&](peer::PeerReply::Builder b) { b.setDecision(uint8_t(d)); });
  });
  c.handle(K::RELOCATED, [&c, &m](const PeerCall& call, K::Reader req) {
    auto r = req.getRelocated();
    Status s = m.on_relocated(RelocatedMsg{r.getVpid(), r.getNode(), r.getReal(), r.getMigration()});
    if (!s.ok()) return c.reply_error(call, s);
    c.reply(call, [](peer::PeerReply::Builder b) { b.setOk(); });
  });
  c.handle(K::GUEST_CHANGED, [&c, &m](const PeerCall& call, K::Reader req) {
    auto r = req.getGuestChanged();
    Status s = m.on_guest_changed(GuestChangedMsg{r.getVpid(), r.getKind(), r.getStatus(), r.getMigration()}, call.from);
    if (!s.ok()) return c.reply_error(call, s);
    c.reply(call, [](peer::PeerReply::Builder b) { b.setOk(); });
  });
  c.handle(K::MIGRATION_PROGRESS, [&c, &m](const PeerCall& call, K::Reader req) {
    wire::Progress p = m.on_progress(VPid{req.getMigrationProgress()});
    c.reply(call, [&](peer::PeerReply::Builder b) {
      auto x = b.initProgress();
      x.setStage(uint8_t(p.stage));
      x.setBytesDone(p.bytes_done);
      x.setBytesTotal(p.bytes_total);
    });
  });
  c.handle(K::KILL_GUEST, [&c, &m](const PeerCall& call, K::Reader req) {
    auto r = req.getKillGuest();
    m.on_kill_guest(VPid{r.getVpid()}, r.getMigration());
    c.reply(call, [](peer::PeerReply::Builder b) { b.setOk(); });
  });
  c.on_channel(peer::Open::IMAGE, [&m](int fd, uint32_t, peer::Open::Reader) { m.on_image_connection(fd); });
  c.on_channel(peer::Open::STDIO, [&m](int fd, uint32_t, peer::Open::Reader open) {
    auto s = open.getStdio();
    m.on_stdio_connection(fd, VPid{s.getVpid()}, s.getMigration(), s.getFd());
  });
}

}  // namespace vproc::daemon
