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
#include "daemonize.h"
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
  Daemon(const Options& opts, Logger& log, SharedTableWriter& table, struct ev_loop* loop, int listen_fd)
      : opts_(opts),
        log_(log),
        loop_(loop),
        node_{table.node_index(), opts.node_name, uint32_t(getpid()), boot_time_ms()},
        watch_(loop, [this](VPid v) { task_exited(v); }),
        processes_(table, watch_, log),
        checkpoints_(loop, processes_, log),
        policies_(loop, processes_, checkpoints_, log),
        dispatch_(processes_, node_, log),
        server_(loop, listen_fd, dispatch_, log) {
    dispatch_.set_drain([this] { server_.drain_all(); });
    dispatch_.set_drain_peer([this](RealPid pid) { server_.drain_peer(pid); });
    dispatch_.set_checkpoints(&checkpoints_, &policies_, [this](uint64_t conn, const wire::Reply& r) {
      return server_.send_later(conn, r);
    });
  }

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
    static_cast<Daemon*>(w->data)->processes_.sweep();
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
  RequestDispatch dispatch_;
  Server server_;
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
  s = SharedTableWriter::open(table_path, TableIdentity{opts.node_index, opts.node_name}, table, report);
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
    Daemon daemon(opts, log, *table, loop, sock.release_fd());
    daemon.processes().adopt(report);
    if (!opts.pidfile.empty()) {
      s = write_pidfile(opts.pidfile, int(getpid()));
      if (!s.ok()) {
        sock.remove();
        table->disown();
        return fail(s);
      }
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
