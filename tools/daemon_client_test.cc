#include "daemon_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>

#include <catch2/catch.hpp>

#include "fake_daemon_test.h"
#include "tool_error.h"

using namespace vproc;
using namespace vproc::tools;
using vproc::tools::test::FakeDaemon;

namespace {

// Reads one small request frame; returns false on EOF.
bool read_request(int fd, wire::Request& out) {
  alignas(8) char buf[wire::kSmallFrameBytes];
  size_t have = 0;
  for (;;) {
    size_t want = have < 8 ? 8 : wire::frame_size(buf, have);
    if (want == SIZE_MAX || want > sizeof buf) return false;
    if (have == want && have >= 8) break;
    ssize_t n = read(fd, buf + have, want - have);
    if (n <= 0) return false;
    have += size_t(n);
  }
  return wire::decode(buf, have, out);
}

void send_reply(int fd, const wire::Reply& rep) {
  alignas(8) char buf[wire::kSmallFrameBytes];
  size_t n = wire::encode(rep, buf, sizeof buf);
  REQUIRE(n > 0);
  REQUIRE(write(fd, buf, n) == ssize_t(n));
}

}  // namespace

TEST_CASE("connect reports ENOENT when nothing is at the path") {
  DaemonClient c;
  CHECK(c.connect("/tmp/vproc-no-such-dir/vprocd.sock", 1000) == ENOENT);
  CHECK(c.connect(std::string(200, 'x'), 1000) == ENAMETOOLONG);
}

TEST_CASE("a request gets its reply") {
  FakeDaemon d([](int fd) {
    wire::Request req;
    REQUIRE(read_request(fd, req));
    auto* h = std::get_if<wire::Hello>(&req);
    REQUIRE(h);
    CHECK(h->parent == 77);
    wire::HelloOk ok;
    ok.vpid = 4194305;
    ok.node_name.set("n0");
    send_reply(fd, ok);
  });
  DaemonClient c;
  REQUIRE(c.connect(d.path, 2000) == 0);
  wire::Reply rep = c.call(wire::Hello{wire::kProtocolVersion, 0, 77});
  auto* ok = std::get_if<wire::HelloOk>(&rep);
  REQUIRE(ok);
  CHECK(ok->vpid == 4194305);
  CHECK(std::string(ok->node_name.s) == "n0");
}

TEST_CASE("a daemon that does not answer times out with a clear error") {
  FakeDaemon d([](int fd) {
    wire::Request req;
    read_request(fd, req);
    read_request(fd, req);  // waits until the client gives up and closes
  });
  DaemonClient c;
  REQUIRE(c.connect(d.path, 200) == 0);
  try {
    c.call(wire::Ping{});
    FAIL("no timeout");
  } catch (const DaemonError& e) {
    CHECK(std::string(e.what()).find("no reply from the vproc daemon within 0.2 s") != std::string::npos);
  }
  c.close();
}

TEST_CASE("a connection closed without a reply is an error") {
  FakeDaemon d([](int fd) {
    wire::Request req;
    read_request(fd, req);
  });
  DaemonClient c;
  REQUIRE(c.connect(d.path, 2000) == 0);
  CHECK_THROWS_AS(c.call(wire::Ping{}), DaemonError);
}

TEST_CASE("a malformed frame is an error, not a crash or a hang") {
  FakeDaemon d([](int fd) {
    wire::Request req;
    read_request(fd, req);
    uint32_t bogus[2] = {0xffffffffu, 5};  // 2^32 segments
    REQUIRE(write(fd, bogus, sizeof bogus) == ssize_t(sizeof bogus));
  });
  DaemonClient c;
  REQUIRE(c.connect(d.path, 2000) == 0);
  try {
    c.call(wire::Ping{});
    FAIL("accepted a malformed frame");
  } catch (const DaemonError& e) {
    CHECK(std::string(e.what()).find("malformed") != std::string::npos);
  }
}

TEST_CASE("a process list of many entries (several segments) arrives whole") {
  std::vector<wire::ProcessEntry> sent;
  for (uint32_t i = 1; i <= 3000; ++i) {
    wire::ProcessEntry e;
    e.vpid = 4194304 + i;
    e.real = i;
    e.node_name = "node";
    e.state = "sleeping";
    e.argv = {"prog", std::string(40, 'a'), std::to_string(i)};
    sent.push_back(e);
  }
  FakeDaemon d([&sent](int fd) {
    wire::Request req;
    REQUIRE(read_request(fd, req));
    REQUIRE(std::holds_alternative<wire::ListRequest>(req));
    std::vector<uint64_t> frame = wire::encode_list(sent);
    size_t bytes = frame.size() * 8;
    const char* p = reinterpret_cast<const char*>(frame.data());
    while (bytes) {  // in pieces, as a busy daemon's writes may arrive
      size_t n = std::min<size_t>(bytes, 4093);
      REQUIRE(write(fd, p, n) == ssize_t(n));
      p += n;
      bytes -= n;
    }
  });
  DaemonClient c;
  REQUIRE(c.connect(d.path, 5000) == 0);
  std::vector<wire::ProcessEntry> got = c.list(false);
  REQUIRE(got.size() == sent.size());
  CHECK(got.back().vpid == sent.back().vpid);
  CHECK(got.back().argv == sent.back().argv);
}

TEST_CASE("a refused list carries the daemon's reason") {
  FakeDaemon d([](int fd) {
    wire::Request req;
    REQUIRE(read_request(fd, req));
    wire::Error e;
    e.err = EPERM;
    e.message.set("not allowed here");
    send_reply(fd, e);
  });
  DaemonClient c;
  REQUIRE(c.connect(d.path, 2000) == 0);
  try {
    c.list(false);
    FAIL("no error");
  } catch (const ToolError& e) {
    CHECK(e.status() == 2);
    CHECK(std::string(e.what()) == "the vproc daemon refused the list: not allowed here (Operation not permitted)");
  }
}
