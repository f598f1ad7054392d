// A vprocd Server on a private libev loop, with its checkpoint service, for
// tests that talk to it through real Unix sockets.
#pragma once

#include <ev.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <memory>
#include <string>
#include <vector>

#include "checkpoint_policy.h"
#include "checkpoint_service.h"
#include "daemon_test_support.h"
#include "listen_socket.h"
#include "node_info.h"
#include "request_dispatch.h"
#include "server.h"

namespace vproc::daemon::test {

struct ServerFixture {
  DaemonState d;
  NodeInfo node{0, "unit", uint32_t(getpid()), boot_time_ms()};
  struct ev_loop* loop = ev_loop_new(EVFLAG_AUTO);
  ListenSocket sock;
  std::unique_ptr<CheckpointService> checkpoints;
  std::unique_ptr<CheckpointPolicies> policies;
  std::unique_ptr<RequestDispatch> dispatch;
  std::unique_ptr<Server> server;
  std::string path;

  explicit ServerFixture(CheckpointLimits limits = CheckpointLimits()) {
    path = d.dir.file("vprocd.sock");
    Status s = sock.claim(path);
    INFO(s.message);
    REQUIRE(s.ok());
    REQUIRE(sock.listen_now(true).ok());
    checkpoints = std::make_unique<CheckpointService>(loop, *d.table, d.log, limits);
    policies = std::make_unique<CheckpointPolicies>(loop, *d.table, *checkpoints, d.log);
    dispatch = std::make_unique<RequestDispatch>(*d.table, node, d.log);
    server = std::make_unique<Server>(loop, sock.release_fd(), *dispatch, d.log);
    dispatch->set_drain([this] { server->drain_all(); });
    dispatch->set_checkpoints(checkpoints.get(), policies.get(), [this](uint64_t conn, const wire::Reply& r) {
      return server->send_later(conn, r);
    });
    server->start();
  }
  ~ServerFixture() {
    server.reset();
    policies.reset();
    checkpoints.reset();
    sock.remove();
    ev_loop_destroy(loop);
  }
  void spin() { ev_run(loop, EVRUN_NOWAIT); }

  int connect_client() {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, path.c_str());
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    spin();  // accept
    return fd;
  }
  void send_request(int fd, const wire::Request& r) {
    alignas(8) char buf[wire::kLargeFrameBytes];
    size_t n = wire::encode(r, buf, sizeof buf);
    REQUIRE(n > 0);
    REQUIRE(write(fd, buf, n) == ssize_t(n));
  }
  // Runs the loop until `fd` has a whole frame (or EOF), for up to
  // `tries` milliseconds; returns what arrived.
  std::vector<uint64_t> read_frame(int fd, bool* eof = nullptr, int tries = 5000) {
    std::vector<uint64_t> buf(1);
    size_t have = 0, need = 8;
    for (int i = 0; i < tries; ++i) {
      spin();
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 1) <= 0) continue;
      if (buf.size() * 8 < need) buf.resize((need + 7) / 8);
      ssize_t k = recv(fd, reinterpret_cast<char*>(buf.data()) + have, need - have, MSG_DONTWAIT);
      if (k == 0) {
        if (eof) *eof = true;
        return {};
      }
      if (k < 0) continue;
      have += size_t(k);
      size_t fs = wire::frame_size(buf.data(), have);
      if (fs == SIZE_MAX) FAIL("bad frame from the server");
      if (fs == 0) {
        need = have + 8;
        continue;
      }
      need = fs;
      if (have == need) {
        buf.resize(need / 8);
        return buf;
      }
    }
    FAIL("no reply from the server");
    return {};
  }
  wire::Reply read_reply(int fd) {
    std::vector<uint64_t> f = read_frame(fd);
    wire::Reply rep;
    REQUIRE(wire::decode(f.data(), f.size() * 8, rep));
    return rep;
  }
  wire::Reply ask(int fd, const wire::Request& r) {
    send_request(fd, r);
    return read_reply(fd);
  }
  // True if `fd` has nothing to read after running the loop for `ms` milliseconds.
  bool silent(int fd, int ms) {
    for (int i = 0; i < ms; ++i) {
      spin();
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 1) > 0) return false;
    }
    return true;
  }
};

}  // namespace vproc::daemon::test
