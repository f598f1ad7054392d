// A stand-in for a node daemon's migration side, for the tests of what the
// migrating process does (migrate_handler.sh, restore_guest.sh): a real
// shared table and a real socket, with scripted answers where vprocd would
// decide a migration. What matters to the tests is logged, a line each, to
// --log.
//
//   migration_stub serve --socket PATH --node N --log FILE --image PATH
//                        [--control DIR]
//       Serves until killed. Hello, Lease, Ping are answered as a daemon
//       would (vpids of node N); CheckpointJob with the image path and
//       kCkptMigrate; CheckpointResult, Restored, GuestStatus with Ok.
//       MigrateWait and Resumed are answered as DIR/verdict and DIR/resumed
//       say when the request comes (read again every 10 ms while they say
//       "hold"): continue | shadow | quit | eof (close the connection) |
//       error (ENOSYS), and ok | error | eof. DIR/restored "error" refuses
//       Restored. A shadow verdict names migration 77, target node 1.
//   migration_stub sigqueue PID REQUEST_ID FLAGS
//       Sends PID the checkpoint request a daemon would (signal 62).
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "ckpt_request.h"
#include "runtime_paths.h"
#include "shared_table_writer.h"
#include "vpid_space.h"
#include "wire.h"

using namespace vproc;

namespace {

struct Config {
  std::string socket, log, image, control;
  uint32_t node = 0;
};

Config g_config;
std::mutex g_log_mutex;
std::atomic<uint32_t> g_next_serial{1};

void log_line(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  int fd = open(g_config.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  std::string l = line + "\n";
  (void)!write(fd, l.data(), l.size());
  close(fd);
}

// The first word of DIR/NAME, waiting while it says "hold"; `fallback` if none.
std::string control(const char* name, const char* fallback) {
  for (;;) {
    std::ifstream in(g_config.control + "/" + name);
    std::string word;
    if (!(in >> word)) return fallback;
    if (word != "hold") return word;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool read_frame(int fd, std::vector<uint64_t>& buf) {
  buf.assign(1, 0);
  size_t have = 0, need = 8;
  for (;;) {
    while (have < need) {
      if (buf.size() * 8 < need) buf.resize((need + 7) / 8);
      ssize_t n = read(fd, reinterpret_cast<char*>(buf.data()) + have, need - have);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      have += size_t(n);
    }
    size_t size = wire::frame_size(buf.data(), have);
    if (size == SIZE_MAX) return false;
    if (size == 0) {
      need = have + 8;
      continue;
    }
    if (have == size) return true;
    need = size;
  }
}

bool send_reply(int fd, const wire::Reply& r) {
  alignas(8) char buf[wire::kLargeFrameBytes];
  size_t n = wire::encode(r, buf, sizeof buf);
  return n > 0 && write(fd, buf, n) == ssize_t(n);
}

wire::Error error(int err, const char* text) {
  wire::Error e;
  e.err = err;
  e.message.set(text);
  return e;
}

wire::Lease lease(uint32_t count) {
  uint32_t first = g_next_serial.fetch_add(count);
  return {make_vpid(g_config.node, first).value, count};
}

// The answer to one request; false: close the connection without one.
bool answer(const wire::Request& req, pid_t peer, wire::Reply& out, bool& reply) {
  std::string p = " peer=" + std::to_string(peer);
  reply = true;
  if (auto* m = std::get_if<wire::Hello>(&req)) {
    wire::HelloOk ok;
    ok.vpid = m->vpid ? m->vpid : make_vpid(g_config.node, g_next_serial.fetch_add(1)).value;
    ok.lease = lease(16);
    ok.node_index = g_config.node;
    ok.node_name.set("stub");
    log_line("hello vpid=" + std::to_string(ok.vpid) + p);
    out = ok;
  } else if (auto* m = std::get_if<wire::LeaseRequest>(&req)) {
    out = lease(m->count ? m->count : 16);
  } else if (auto* m = std::get_if<wire::Spawned>(&req)) {
    log_line("spawned vpid=" + std::to_string(m->vpid) + " real=" + std::to_string(m->real) + p);
    reply = false;  // one-way
  } else if (std::holds_alternative<wire::Reaped>(req)) {
    reply = false;
  } else if (std::holds_alternative<wire::Ping>(req)) {
    wire::Pong pong;
    pong.protocol = wire::kProtocolVersion;
    pong.node_index = g_config.node;
    pong.daemon_pid = uint32_t(getpid());
    pong.node_name.set("stub");
    out = pong;
  } else if (auto* m = std::get_if<wire::CheckpointJob>(&req)) {
    log_line("job id=" + std::to_string(m->request_id) + " vpid=" + std::to_string(m->vpid) + p);
    wire::CheckpointSpec spec;
    spec.flags = kCkptMigrate;
    spec.path.set(g_config.image.c_str());
    out = spec;
  } else if (auto* m = std::get_if<wire::CheckpointResult>(&req)) {
    log_line("result id=" + std::to_string(m->request_id) + " err=" + std::to_string(m->err) + " path=" +
             m->path.s + " message=" + m->message.s + p);
    out = wire::Ok{};
  } else if (auto* m = std::get_if<wire::MigrateWait>(&req)) {
    log_line("migrate-wait id=" + std::to_string(m->request_id) + p);
    std::string v = control("verdict", "error");
    log_line("verdict " + v);
    wire::Verdict verdict;
    verdict.migration = 77;
    verdict.target = 1;
    if (v == "continue") {
      verdict.action = wire::VerdictAction::Continue;
    } else if (v == "shadow") {
      verdict.action = wire::VerdictAction::Shadow;
    } else if (v == "quit") {
      verdict.action = wire::VerdictAction::Quit;
    } else if (v == "eof") {
      return false;
    } else {
      out = error(ENOSYS, "this daemon does not take migration requests");
      return true;
    }
    out = verdict;
  } else if (auto* m = std::get_if<wire::Restored>(&req)) {
    log_line("restored vpid=" + std::to_string(m->vpid) + " parent=" + std::to_string(m->parent) +
             " real=" + std::to_string(m->real) + " migration=" + std::to_string(m->migration) + p);
    if (control("restored", "ok") == "error")
      out = error(EEXIST, "the stub refuses this restore");
    else
      out = wire::Ok{};
  } else if (auto* m = std::get_if<wire::Resumed>(&req)) {
    log_line("resumed vpid=" + std::to_string(m->vpid) + p);
    std::string v = control("resumed", "ok");
    log_line("resume " + v);
    if (v == "eof") return false;
    if (v == "ok")
      out = wire::Ok{};
    else
      out = error(ECANCELED, "the migration was called off");
  } else if (auto* m = std::get_if<wire::GuestStatus>(&req)) {
    log_line("guest-status vpid=" + std::to_string(m->vpid) + " kind=" + std::to_string(int(m->kind)) +
             " status=" + std::to_string(m->status) + p);
    out = wire::Ok{};
  } else if (std::holds_alternative<wire::Lookup>(req) || std::holds_alternative<wire::LookupReal>(req)) {
    out = error(ESRCH, "the stub knows no other processes");
  } else {
    out = error(ENOSYS, "the stub does not take this request");
  }
  return true;
}

void serve_connection(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
  std::vector<uint64_t> frame;
  while (read_frame(fd, frame)) {
    wire::Request req;
    if (!wire::decode(frame.data(), frame.size() * 8, req)) break;
    wire::Reply rep;
    bool reply = false;
    if (!answer(req, cred.pid, rep, reply)) break;
    if (reply && !send_reply(fd, rep)) break;
  }
  close(fd);
}

int serve() {
  char table[4096];
  if (!table_path_for(g_config.socket.c_str(), table, sizeof table)) return 2;
  std::unique_ptr<daemon::SharedTableWriter> writer;
  daemon::AdoptionReport report;
  daemon::Status s = daemon::SharedTableWriter::open(table, {g_config.node, "stub"}, writer, report);
  if (!s.ok()) {
    fprintf(stderr, "migration_stub: %s\n", s.message.c_str());
    return 1;
  }
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", g_config.socket.c_str());
  unlink(addr.sun_path);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, 64) != 0) {
    perror("migration_stub: bind");
    return 1;
  }
  chmod(addr.sun_path, 0666);
  log_line("ready node=" + std::to_string(g_config.node));
  for (;;) {
    int c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    std::thread(serve_connection, c).detach();
  }
}

int usage() {
  fputs("usage: migration_stub serve --socket PATH --node N --log FILE --image PATH [--control DIR]\n"
        "       migration_stub sigqueue PID REQUEST_ID FLAGS\n",
        stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "sigqueue") == 0) {
    if (argc != 5) return usage();
    union sigval v;
    v.sival_ptr = reinterpret_cast<void*>(
        uintptr_t(ckpt_request_value(uint32_t(atoi(argv[3])), uint32_t(atoi(argv[4])))));
    if (sigqueue(atoi(argv[2]), kDefaultCkptSignal, v) != 0) {
      perror("migration_stub: sigqueue");
      return 1;
    }
    return 0;
  }
  if (argc < 2 || strcmp(argv[1], "serve") != 0) return usage();
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string o = argv[i], v = argv[i + 1];
    if (o == "--socket") g_config.socket = v;
    else if (o == "--node") g_config.node = uint32_t(atoi(v.c_str()));
    else if (o == "--log") g_config.log = v;
    else if (o == "--image") g_config.image = v;
    else if (o == "--control") g_config.control = v;
    else return usage();
  }
  if (g_config.socket.empty() || g_config.log.empty() || g_config.image.empty()) return usage();
  if (g_config.control.empty()) g_config.control = "/nonexistent";
  signal(SIGPIPE, SIG_IGN);
  return serve();
}
