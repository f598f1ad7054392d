// A client connection's frames with descriptors attached (SCM_RIGHTS): they
// arrive with their frame, once, and are closed by the daemon after sending or
// when the connection goes first.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "fd_passing.h"
#include "client_connection.h"
#include "wire.h"

using namespace vproc;
using namespace vproc::daemon;

namespace {

size_t encode(const wire::Reply& r, std::vector<uint64_t>& out) {
  out.assign(wire::kSmallFrameBytes / 8, 0);
  size_t n = wire::encode(r, out.data(), out.size() * 8);
  REQUIRE(n > 0);
  return n;
}

// Reads everything the peer sent; the descriptors received, in order.
std::string read_all(int fd, std::vector<int>& fds) {
  std::string data;
  for (;;) {
    char buf[4096];
    ssize_t n = recv_with_fds(fd, buf, sizeof buf, fds);
    if (n <= 0) return data;
    data.append(buf, size_t(n));
  }
}

bool open_fd(int fd) { return fcntl(fd, F_GETFD) >= 0; }

}  // namespace

TEST_CASE("connection: a frame's descriptors go with it and are closed after sending", "[server][fds]") {
  int sv[2], pipe_fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  REQUIRE(pipe2(pipe_fds, O_CLOEXEC) == 0);
  std::vector<uint64_t> a, b, c;
  size_t na = encode(wire::Reply(wire::Ok{}), a);
  size_t nb = encode(wire::Reply(wire::ShadowEvent{wire::ShadowEventKind::Channels, 0, 2}), b);
  size_t nc = encode(wire::Reply(wire::ShadowEvent{wire::ShadowEventKind::Exited, 3, 0}), c);
  {
    ClientConnection conn(sv[0], Peer{});
    conn.queue(a.data(), na);
    conn.queue(b.data(), nb, {pipe_fds[1]});
    conn.queue(c.data(), nc);
    int err = 0;
    REQUIRE(conn.flush(err));
    CHECK(conn.queued() == 0);
    // Ours is closed once sent; the peer holds the only copy.
    CHECK_FALSE(open_fd(pipe_fds[1]));
  }
  std::vector<int> fds;
  std::string data = read_all(sv[1], fds);
  REQUIRE(data.size() == na + nb + nc);
  REQUIRE(fds.size() == 1);
  // The received descriptor is the pipe's write end.
  REQUIRE(write(fds[0], "x", 1) == 1);
  char ch = 0;
  REQUIRE(read(pipe_fds[0], &ch, 1) == 1);
  CHECK(ch == 'x');
  close(fds[0]);
  close(pipe_fds[0]);
  close(sv[1]);
}

TEST_CASE("connection: unsent descriptors are closed with the connection", "[server][fds]") {
  int sv[2], pipe_fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  REQUIRE(pipe2(pipe_fds, O_CLOEXEC) == 0);
  std::vector<uint64_t> b;
  size_t nb = encode(wire::Reply(wire::ShadowEvent{wire::ShadowEventKind::Channels, 0, 1}), b);
  {
    ClientConnection conn(sv[0], Peer{});
    conn.queue(b.data(), nb, {pipe_fds[1]});
    CHECK(open_fd(pipe_fds[1]));
    conn.shut();
    CHECK_FALSE(open_fd(pipe_fds[1]));
  }
  // Every write end is closed: the read end sees EOF.
  char ch;
  CHECK(read(pipe_fds[0], &ch, 1) == 0);
  close(pipe_fds[0]);
  close(sv[1]);
}
