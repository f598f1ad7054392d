// vprocd's socket side: framing, pipelining, malformed input, the drain on a
// lookup miss, and claiming the socket path. Runs a Server on a private libev
// loop and talks to it through real Unix sockets.
#include <sys/stat.h>

#include "server_fixture.h"

using namespace vproc;
using namespace vproc::daemon;
using namespace vproc::daemon::test;

TEST_CASE("server: answers requests over the socket", "[server]") {
  ServerFixture fx;
  int c = fx.connect_client();
  auto pong = std::get<wire::Pong>(fx.ask(c, wire::Ping{}));
  CHECK(pong.protocol == wire::kProtocolVersion);
  CHECK(pong.daemon_pid == uint32_t(getpid()));
  CHECK(pong.processes == 0);
  CHECK(std::string(pong.node_name.s) == "unit");

  auto hello = std::get<wire::HelloOk>(fx.ask(c, wire::Hello{wire::kProtocolVersion, 0, 1}));
  CHECK(valid_vpid(hello.vpid));
  CHECK(hello.lease.count == ProcessTable::kInitialLease);
  CHECK(std::string(hello.node_name.s) == "unit");
  CHECK(fx.d.view().vpid_of(RealPid{uint32_t(getpid())}) == VPid{hello.vpid});

  auto where = std::get<wire::Where>(fx.ask(c, wire::Lookup{hello.vpid}));
  CHECK(where.real == uint32_t(getpid()));
  CHECK(where.state == uint8_t(RecordState::Alive));

  auto miss = std::get<wire::Error>(fx.ask(c, wire::Lookup{4194999}));
  CHECK(miss.err == ESRCH);
  CHECK(std::string(miss.message.s) == "no such vpid 4194999");

  auto lease = std::get<wire::Lease>(fx.ask(c, wire::LeaseRequest{8}));
  CHECK(lease.count == 8);

  auto bad_sig = std::get<wire::Error>(fx.ask(c, wire::Signal{hello.vpid, 200}));
  CHECK(bad_sig.err == EINVAL);
  CHECK(std::holds_alternative<wire::Ok>(fx.ask(c, wire::Signal{hello.vpid, 0})));

  fx.send_request(c, wire::ListRequest{false});
  std::vector<uint64_t> f = fx.read_frame(c);
  std::vector<wire::ProcessEntry> list;
  REQUIRE(wire::decode_list(f.data(), f.size() * 8, list));
  REQUIRE(list.size() == 1);
  CHECK(list[0].vpid == hello.vpid);
  close(c);
}

TEST_CASE("server: frames split into single bytes, and pipelined requests", "[server]") {
  ServerFixture fx;
  int c = fx.connect_client();
  alignas(8) char buf[wire::kSmallFrameBytes];
  size_t n = wire::encode(wire::Request(wire::Ping{}), buf, sizeof buf);
  for (size_t i = 0; i < n; ++i) {
    REQUIRE(write(c, buf + i, 1) == 1);
    fx.spin();
  }
  auto f = fx.read_frame(c);
  wire::Reply rep;
  REQUIRE(wire::decode(f.data(), f.size() * 8, rep));
  CHECK(std::holds_alternative<wire::Pong>(rep));

  // 50 requests in one write: 50 replies, in order.
  std::string many;
  for (uint32_t i = 0; i < 50; ++i) {
    size_t k = wire::encode(wire::Request(wire::Lookup{4194305 + 1000 + i}), buf, sizeof buf);
    many.append(buf, k);
  }
  REQUIRE(write(c, many.data(), many.size()) == ssize_t(many.size()));
  for (uint32_t i = 0; i < 50; ++i) {
    auto g = fx.read_frame(c);
    REQUIRE(wire::decode(g.data(), g.size() * 8, rep));
    auto e = std::get<wire::Error>(rep);
    CHECK(std::string(e.message.s) == "no such vpid " + std::to_string(4194305 + 1000 + i));
  }
  close(c);
}

TEST_CASE("server: a malformed message closes that connection only", "[server]") {
  ServerFixture fx;
  int good = fx.connect_client();
  SECTION("an impossible frame header") {
    int bad = fx.connect_client();
    uint32_t junk[4] = {0xfffffff0u, 1, 2, 3};
    REQUIRE(write(bad, junk, sizeof junk) == ssize_t(sizeof junk));
    bool eof = false;
    fx.read_frame(bad, &eof);
    CHECK(eof);
    close(bad);
  }
  SECTION("a frame too large for a request") {
    int bad = fx.connect_client();
    uint32_t hdr[2] = {0, 100000};
    REQUIRE(write(bad, hdr, sizeof hdr) == ssize_t(sizeof hdr));
    bool eof = false;
    fx.read_frame(bad, &eof);
    CHECK(eof);
    close(bad);
  }
  SECTION("a well-framed body that is not a request") {
    int bad = fx.connect_client();
    uint64_t frame[3] = {0, 0, 0};
    reinterpret_cast<uint32_t*>(frame)[1] = 2;
    frame[1] = (uint64_t(0x7000) << 2) | (uint64_t(1) << 32);  // root pointer out of bounds
    REQUIRE(write(bad, frame, sizeof frame) == ssize_t(sizeof frame));
    bool eof = false;
    fx.read_frame(bad, &eof);
    CHECK(eof);
    close(bad);
  }
  SECTION("hanging up in the middle of a frame") {
    int bad = fx.connect_client();
    uint32_t hdr[1] = {0};
    REQUIRE(write(bad, hdr, sizeof hdr) == ssize_t(sizeof hdr));
    close(bad);
    fx.spin();
  }
  CHECK(std::holds_alternative<wire::Pong>(fx.ask(good, wire::Ping{})));
  CHECK(fx.server->connections() == 1);
  close(good);
}

TEST_CASE("server: a lookup miss first handles what other clients already sent", "[server]") {
  ServerFixture fx;
  int parent = fx.connect_client();
  auto hello = std::get<wire::HelloOk>(fx.ask(parent, wire::Hello{wire::kProtocolVersion, 0, 1}));
  Child c;
  VPid child_v{hello.lease.first};
  // The parent's one-way Spawned is in its socket, not processed yet...
  fx.send_request(parent, wire::Spawned{child_v.value, c.real().value, hello.vpid, false});
  REQUIRE(fx.d.table->find(child_v) == nullptr);
  // ...when a sibling's Lookup of that vpid is handled.
  wire::Reply rep;
  std::vector<uint64_t> list;
  Peer sibling = self_peer();
  auto a = fx.dispatch->handle(sibling, wire::Lookup{child_v.value}, rep, list);
  CHECK(a == RequestDispatch::Answer::Small);
  auto where = std::get<wire::Where>(rep);
  CHECK(where.real == c.real().value);
  CHECK(where.state == uint8_t(RecordState::Alive));
  close(parent);
}

TEST_CASE("server: a child's first Hello sees the Spawned its parent sent before", "[server]") {
  ServerFixture fx;
  int parent = fx.connect_client();
  auto hello = std::get<wire::HelloOk>(fx.ask(parent, wire::Hello{wire::kProtocolVersion, 0, 1}));
  Child c;
  VPid child_v{hello.lease.first};
  fx.send_request(parent, wire::Spawned{child_v.value, c.real().value, hello.vpid, false});
  // The child (say, after a raw exec that lost VPROC_SELF) asks who it is.
  wire::Reply rep;
  std::vector<uint64_t> list;
  fx.dispatch->handle(peer_of(c.pid()), wire::Hello{wire::kProtocolVersion, 0, hello.vpid}, rep, list);
  auto ok = std::get<wire::HelloOk>(rep);
  CHECK(ok.vpid == child_v.value);  // not a second vpid for the same process
  CHECK(fx.d.table->live_processes() == 2);
  close(parent);
}

TEST_CASE("server: claiming the socket path", "[server]") {
  TempDir dir;
  std::string path = dir.file("sub/dir/vprocd.sock");
  {
    ListenSocket first;
    REQUIRE(first.claim(path).ok());  // creates the directories
    struct stat st;
    REQUIRE(stat(dir.file("sub/dir").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0755);
    REQUIRE(first.listen_now(true).ok());
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0666);

    // The lock is per process (fcntl), so a second daemon is simulated by a child.
    pid_t p = fork();
    if (p == 0) {
      for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
      ListenSocket second;
      Status s = second.claim(path);
      bool ok = s.err == EADDRINUSE &&
                s.message == "another daemon is already serving " + path + " (pid " + std::to_string(getppid()) + ")";
      _exit(ok ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(p, &status, 0) == p);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(live_daemon_pid(path) == getpid());
    // No remove(): the socket file stays behind as if the daemon had crashed.
  }
  CHECK(live_daemon_pid(path) == 0);
  ListenSocket again;
  REQUIRE(again.claim(path).ok());  // the stale socket is removed
  struct stat st;
  CHECK(lstat(path.c_str(), &st) != 0);
  REQUIRE(again.listen_now(false).ok());
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  again.remove();
  CHECK(lstat(path.c_str(), &st) != 0);

  // Something that is not a socket is never removed.
  std::string file = dir.file("plain");
  FILE* f = fopen(file.c_str(), "w");
  REQUIRE(f);
  fclose(f);
  ListenSocket blocked;
  Status s = blocked.claim(file);
  CHECK(s.err == EEXIST);
  CHECK(s.message == file + " exists and is not a socket");
}
