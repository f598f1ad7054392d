// vprocd: wires the daemon's parts together and runs the event loop.
#include <ev.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "checkpoint_policy.h"
#include "checkpoint_service.h"
#include "child_relay.h"
#include "cluster.h"
#include "cluster_config.h"
#include "cluster_queries.h"
#include "daemonize.h"
#include "migration_service.h"
#include "peer.capnp.h"
#include "peer_migration.h"
#include "proc_stat.h"
#include "spool.h"
#include "exit_watch.h"
#include "listen_socket.h"
#include "logger.h"
#include "node_info.h"
#include "options.h"
#include "pidfile.h"
#include "process_table.h"
#include "proc_stat.h"
#include "request_dispatch.h"
#include "runtime_paths.h"
#include "server.h"
#include "spawn_rings.h"
#include "shadow_service.h"
#include "shared_table_writer.h"
#include "wire.h"

namespace vproc::daemon {
namespace {

constexpr double kSweepSeconds = 2.0;

// One client connection and one pidfd per registered task: allow many.
void raise_fd_limit(Logger& log) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) log.warning("cannot raise the descriptor limit");
}

const char* origin_word(AdoptionReport::Origin o) {
  switch (o) {
    case AdoptionReport::Origin::Created: return "created";
    case AdoptionReport::Origin::Adopted: return "adopted";
    case AdoptionReport::Origin::Recreated: return "recreated";
  }
  return "?";
}

// Everything the running daemon owns, in construction order.
class Daemon {
 public:
  // `cluster`: the cluster file's contents with --cluster, else null.
  Daemon(const Options& opts, Logger& log, SharedTableWriter& table, struct ev_loop* loop, int listen_fd,
         const ClusterConfig* cluster)
      : opts_(opts),
        log_(log),
        loop_(loop),
        node_{table.node_index(), opts.node_name, uint32_t(getpid()), boot_time_ms()},
        watch_(loop, [this](VPid v) { task_exited(v); }),
        processes_(table, watch_, log),
        checkpoints_(loop, processes_, log),
        policies_(loop, processes_, checkpoints_, log),
        shadows_(loop, processes_, log),
        children_(loop, processes_, log, [this](uint64_t conn, const wire::Reply& r) { return server_.send_later(conn, r); }),
        dispatch_(processes_, node_, log),
        rings_(loop, log,
               [this](const Peer& peer, const wire::Request& msg) { return dispatch_.apply_ring_record(peer, msg); }),
        server_(loop, listen_fd, dispatch_, log) {
    dispatch_.set_rings(&rings_);
    server_.set_rings(&rings_);
    dispatch_.set_drain([this] { server_.drain_all(); });
    dispatch_.set_drain_peer([this](RealPid pid) { server_.drain_peer(pid); });
    dispatch_.set_peer_busy([this](RealPid pid) { return server_.peer_busy(pid); });
    dispatch_.set_checkpoints(&checkpoints_, &policies_, [this](uint64_t conn, const wire::Reply& r) {
      return server_.send_later(conn, r);
    });
    shadows_.attach(server_);
    dispatch_.set_shadows(&shadows_);
    dispatch_.set_child_relay(&children_);
    if (cluster) {
      cluster_ = std::make_unique<Cluster>(loop, *cluster, node_.index, log);
      children_.serve(*cluster_);
      start_migrations();
      queries_ = std::make_unique<ClusterQueries>(
          *cluster_, processes_, node_, log,
          [this](uint64_t conn, const wire::Reply& r) { return server_.send_later(conn, r); },
          [this](uint64_t conn, std::vector<uint64_t> f) { return server_.send_later_frame(conn, f); });
      queries_->set_drain([this] { server_.drain_all(); });
      queries_->serve();
      dispatch_.set_cluster(queries_.get());
    }
  }

  // Migration needs the cluster, a spool and the vproc command (next to vprocd).
  void start_migrations() {
    Status s = spool_.open(Spool::dir_for(opts_.socket_path));
    if (!s.ok()) {
      log_.error("migration disabled: %s", s.message.c_str());
      return;
    }
    size_t stale = spool_.remove_stale();
    if (stale) log_.event("spool: removed %zu images of migrations a previous daemon left", stale);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    std::string dir = n > 0 ? std::string(exe, size_t(n)) : std::string("/usr/bin/vprocd");
    dir = dir.substr(0, dir.rfind('/'));
    peer_migration_ = std::make_unique<PeerMigration>(*cluster_, processes_);
    migrations_ = std::make_unique<Migrations>(loop_, processes_, checkpoints_, spool_, *peer_migration_, log_,
                                               dir + "/vproc");
    migrations_->set_reply_later([this](uint64_t conn, const wire::Reply& r) { return server_.send_later(conn, r); });
    migrations_->set_shadows(&shadows_);
    migrations_->set_socket_path(opts_.socket_path);
    peer_migration_->serve(*migrations_);
    cluster_->on_link_lost([this](uint32_t node) { migrations_->node_lost(node); });
    shadows_.set_commit([this](VPid v, uint64_t id, uint32_t target) {
      return migrations_->shadow_registered(v, id, target);
    });
    shadows_.set_on_gone([this](VPid v) { migrations_->shadow_gone(v); });
    shadows_.set_signal_guest([this](const Peer& caller, VPid v, int signo) {
      uint32_t node = migrations_->location_of(v);
      const ProcessRecord* rec = processes_.find(v);
      if (node == node_.index) {
        if (!rec || !rec->live()) return Status::failure(ESRCH, "no such process");
        return ::kill(pid_t(rec->real.value), signo) == 0 ? Status::success() : Status::failure(errno, "kill");
      }
      ProcUids who;
      if (!read_proc_uids(caller.pid, who)) who = ProcUids{caller.uid, caller.uid, caller.uid, caller.uid};
      cluster_->request(node, 5, [&](peer::PeerRequest::Builder b) {
        auto sr = b.initSignal();
        sr.setTarget(v.value);
        sr.setSigno(signo);
        sr.setUid(who.real);
        sr.setEuid(who.effective);
      }, [this, v, signo](const Status& s, peer::PeerReply::Reader) {
        if (!s.ok()) log_.warning("signal %d to guest vpid %u: %s", signo, v.value, s.message.c_str());
      });
      return Status::success();
    });
    dispatch_.set_migrations(migrations_.get());
  }

  // Listens for the other nodes (with --cluster).
  Status start_cluster() { return cluster_ ? cluster_->start() : Status::success(); }

  ProcessTable& processes() { return processes_; }

  void run() {
    server_.start();
    ev_timer_init(&sweep_, &Daemon::on_sweep, kSweepSeconds, kSweepSeconds);
    sweep_.data = this;
    ev_timer_start(loop_, &sweep_);
    if (opts_.idle_exit_secs) {
      idle_since_ = ev_now(loop_);
      ev_timer_init(&idle_, &Daemon::on_idle_check, 1.0, 1.0);
      idle_.data = this;
      ev_timer_start(loop_, &idle_);
    }
    ev_signal_init(&sigterm_, &Daemon::on_stop_signal, SIGTERM);
    ev_signal_init(&sigint_, &Daemon::on_stop_signal, SIGINT);
    ev_signal_init(&sighup_, &Daemon::on_hup, SIGHUP);
    for (ev_signal* s : {&sigterm_, &sigint_, &sighup_}) {
      s->data = this;
      ev_signal_start(loop_, s);
    }
    ev_run(loop_, 0);
    server_.stop();
  }

 private:
  void task_exited(VPid v) {
    // The task's last messages (a Spawned for a child it forked just before
    // exiting, say) were sent before it exited: handle them before its leases go.
    if (const ProcessRecord* rec = processes_.find(v); rec && !rec->thread) server_.drain_peer(rec->real);
    processes_.on_exit(v);
    server_.reap_closed();
  }

  static void on_sweep(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<Daemon*>(w->data);
    // The sweep declares reaped the children that no longer exist: first the
    // Reaped messages already written (rings) or sent, so it finds none of those.
    self->server_.drain_all();
    self->processes_.sweep();
    self->server_.reap_closed();
  }

  static void on_idle_check(struct ev_loop* loop, ev_timer* w, int) {
    auto* self = static_cast<Daemon*>(w->data);
    if (self->processes_.live_processes() || self->server_.connections()) {
      self->idle_since_ = ev_now(loop);
    } else if (ev_now(loop) - self->idle_since_ >= self->opts_.idle_exit_secs) {
      self->log_.event("idle for %u s: exiting", self->opts_.idle_exit_secs);
      ev_break(loop, EVBREAK_ALL);
    }
  }

  static void on_stop_signal(struct ev_loop* loop, ev_signal* w, int) {
    static_cast<Daemon*>(w->data)->log_.event("signal %d: shutting down", w->signum);
    ev_break(loop, EVBREAK_ALL);
  }

  static void on_hup(struct ev_loop*, ev_signal* w, int) {
    auto* self = static_cast<Daemon*>(w->data);
    Status s = self->log_.reopen();
    if (!s.ok()) self->log_.error("%s", s.message.c_str());
  }

  const Options& opts_;
  Logger& log_;
  struct ev_loop* loop_;
  NodeInfo node_;
  PidfdExitWatch watch_;
  ProcessTable processes_;
  CheckpointService checkpoints_;  // before the policies and the server, which use it
  CheckpointPolicies policies_;
  ShadowService shadows_;  // before the dispatch and the server, which use it
  ChildRelay children_;    // likewise
  RequestDispatch dispatch_;
  SpawnRings rings_;  // before the server, which reads them
  Server server_;
  std::unique_ptr<Cluster> cluster_;  // with --cluster
  std::unique_ptr<ClusterQueries> queries_;
  Spool spool_;
  std::unique_ptr<PeerMigration> peer_migration_;
  std::unique_ptr<Migrations> migrations_;  // with --cluster
  ev_timer sweep_, idle_;
  ev_signal sigterm_, sigint_, sighup_;
  double idle_since_ = 0;
};

// Exit statuses (documented in usage_text()).
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitAlreadyServed = 3;

int fail(const Status& s, int status = kExitError) {
  fprintf(stderr, "vprocd: %s\n", s.message.c_str());
  return status;
}

int run(int argc, char** argv) {
  Options opts;
  Status s = parse_options(argc, argv, opts);
  if (!s.ok()) {
    fprintf(stderr, "vprocd: %s (see 'vprocd --help')\n", s.message.c_str());
    return kExitUsage;
  }
  if (opts.help) {
    fputs(usage_text(), stdout);
    return 0;
  }
  if (opts.version) {
    printf("vprocd (vproc) %s, protocol %u\n", VPROC_VERSION, wire::kProtocolVersion);
    return 0;
  }
  s = complete_options(opts);
  if (!s.ok()) return fail(s);
  std::unique_ptr<ClusterConfig> cluster;
  if (!opts.cluster_path.empty()) {
    cluster = std::make_unique<ClusterConfig>();
    uint32_t index = 0;
    s = load_cluster_config(opts.cluster_path, *cluster);
    if (s.ok()) s = select_cluster_node(*cluster, opts.node_name, opts.node_index, index);
    if (!s.ok()) return fail(s);
    opts.node_index = index;
  }

  Logger log;
  if (!opts.log_path.empty()) {
    s = log.open_file(opts.log_path);
    if (!s.ok()) return fail(s);
  }
  log.set_level(!opts.log_path.empty() || opts.verbose ? Logger::Level::Event : Logger::Level::Error);
  signal(SIGPIPE, SIG_IGN);  // a client hanging up must not kill the daemon
  umask(022);

  Detach detach;
  if (!opts.foreground) {
    s = detach.fork_daemon(opts.log_path.empty() ? -1 : log.fd());
    if (!s.ok()) return fail(s);
  }
  raise_fd_limit(log);

  ListenSocket sock;
  s = sock.claim(opts.socket_path);
  if (!s.ok()) return s.err == EADDRINUSE ? fail(s, kExitAlreadyServed) : fail(s);

  char table_path[PATH_MAX];
  if (!table_path_for(opts.socket_path.c_str(), table_path, sizeof table_path))
    return fail(Status::failure(ENAMETOOLONG, "table path too long"));
  std::unique_ptr<SharedTableWriter> table;
  AdoptionReport report;
  s = SharedTableWriter::open(table_path, TableIdentity{opts.node_index, opts.node_name, cluster != nullptr}, table,
                             report);
  if (!s.ok()) return fail(s);
  if (report.origin == AdoptionReport::Origin::Recreated)
    log.warning("table %s was replaced: %s", table_path, report.recreate_reason.c_str());

  struct ev_loop* loop = ev_default_loop(EVFLAG_AUTO);
  if (!loop) s = Status::failure(ENOMEM, "cannot create the event loop");
  if (s.ok()) s = sock.listen_now(geteuid() == 0);
  if (!s.ok()) {
    sock.remove();
    table->disown();
    return fail(s);
  }
  {
    Daemon daemon(opts, log, *table, loop, sock.release_fd(), cluster.get());
    daemon.processes().adopt(report);
    s = daemon.start_cluster();
    if (s.ok() && !opts.pidfile.empty()) s = write_pidfile(opts.pidfile, int(getpid()));
    if (!s.ok()) {
      sock.remove();
      table->disown();
      return fail(s);
    }
    log.event("serving %s as node %u (%s); table %s %s: %zu records kept, %u freed, %zu leased vpids kept",
              opts.socket_path.c_str(), table->node_index(), opts.node_name.c_str(), table_path,
              origin_word(report.origin), report.kept.size(), report.freed, report.leases.size());
    if (!opts.foreground) detach.report_ready(opts.log_path.empty() ? -1 : log.fd());
    daemon.run();
  }
  sock.remove();
  table->disown();
  if (!opts.pidfile.empty()) remove_pidfile(opts.pidfile, int(getpid()));
  log.event("stopped");
  return 0;
}

}  // namespace
}  // namespace vproc::daemon

int main(int argc, char** argv) { return vproc::daemon::run(argc, argv); }
