// The peer transport (vprocd/cluster.h) with real TCP sockets on 127.0.0.1:
// several Cluster objects, one per node, on one event loop.
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <random>
#include <thread>

#include "cluster.h"
#include "peer_connect.h"

using namespace vproc::daemon;
namespace peer = vproc::peer;

namespace {

uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

ClusterConfig config_for(const std::vector<uint16_t>& ports, const std::string& secret = "0123456789abcdef-secret") {
  static const char* names[] = {"alpha", "beta", "gamma"};
  std::string text = "secret /unused\n";
  for (size_t i = 0; i < ports.size(); ++i)
    text += std::string(names[i]) + " 127.0.0.1:" + std::to_string(ports[i]) + "\n";
  ClusterConfig c;
  REQUIRE(parse_cluster_text(text, "/test/cluster", c).ok());
  c.secret = secret;
  return c;
}

struct Loop {
  struct ev_loop* loop = ev_loop_new(EVFLAG_AUTO);
  ~Loop() { ev_loop_destroy(loop); }

  // Runs the loop until `done()` or `seconds` pass; true if done.
  template <typename F>
  bool run_until(F done, double seconds = 5) {
    ev_timer tick;
    ev_timer_init(&tick, [](struct ev_loop*, ev_timer*, int) {}, 0.01, 0.01);
    ev_timer_start(loop, &tick);
    ev_now_update(loop);
    double end = ev_now(loop) + seconds;
    while (!done() && ev_now(loop) < end) ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &tick);
    return done();
  }
};

struct Result {
  bool done = false;
  Status status;
  uint32_t real = 0;
};

Cluster::ReplyCallback capture(Result& r) {
  return [&r](const Status& s, peer::PeerReply::Reader rep) {
    r.done = true;
    r.status = s;
    if (s.ok() && rep.isWhere()) r.real = rep.getWhere().getReal();
  };
}

void lookup(Cluster& c, uint32_t node, uint32_t vpid, Result& r, double timeout = 2) {
  c.request(node, timeout, [vpid](peer::PeerRequest::Builder b) { b.setLookup(vpid); }, capture(r));
}

// Answers lookup(v) with where(real = v + node index + 1000).
void answer_lookups(Cluster& c) {
  c.handle(peer::PeerRequest::LOOKUP, [&c](const PeerCall& call, peer::PeerRequest::Reader r) {
    uint32_t v = r.getLookup();
    c.reply(call, [&](peer::PeerReply::Builder b) { b.initWhere().setReal(v + c.self() + 1000); });
  });
}

// A raw TCP connection to a port, without any handshake.
int raw_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

// The other end closed `fd` (EOF or reset), without blocking.
bool closed_by_peer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  char b[256];
  ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

}  // namespace

TEST_CASE("cluster transport: requests to other nodes and to itself, answered out of order", "[cluster]") {
  Loop l;
  Logger log;
  log.set_level(Logger::Level::Silent);
  ClusterConfig cfg = config_for({free_port(), free_port(), free_port()});
  Cluster a(l.loop, cfg, 0, log), b(l.loop, cfg, 1, log), c(l.loop, cfg, 2, log);
  REQUIRE(a.start().ok());
  REQUIRE(b.start().ok());
  REQUIRE(c.start().ok());
  CHECK(a.node_count() == 3);
  CHECK(a.index_of("gamma") == 2);
  CHECK(a.name_of(1) == "beta");
  CHECK(a.label(1) == "node beta (" + cfg.nodes[1].address + ")");
  answer_lookups(a);
  answer_lookups(c);
  // beta holds its first call and answers it after the second.
  std::vector<PeerCall> held;
  b.handle(peer::PeerRequest::LOOKUP, [&](const PeerCall& call, peer::PeerRequest::Reader r) {
    CHECK(call.from == 0);
    uint32_t v = r.getLookup();
    if (held.empty()) {
      held.push_back(call);
      return;
    }
    b.reply(call, [&](peer::PeerReply::Builder rep) { rep.initWhere().setReal(v); });
    b.reply(held[0], [&](peer::PeerReply::Builder rep) { rep.initWhere().setReal(1); });
  });

  Result first, second, self, to_c;
  lookup(a, 1, 4194305, first);
  lookup(a, 1, 4194306, second);
  lookup(a, 0, 4194307, self);
  CHECK_FALSE(self.done);  // never inside request()
  lookup(a, 2, 4194308, to_c);
  REQUIRE(l.run_until([&] { return first.done && second.done && self.done && to_c.done; }));
  CHECK(first.status.ok());
  CHECK(first.real == 1);
  CHECK(second.real == 4194306);
  CHECK(self.real == 4194307 + 1000);
  CHECK(to_c.real == 4194308 + 1002);

  // A large reply (a process list of many entries) arrives whole.
  c.handle(peer::PeerRequest::LIST, [&c](const PeerCall& call, peer::PeerRequest::Reader) {
    std::vector<kj::byte> big(3 << 20);
    for (size_t i = 0; i < big.size(); ++i) big[i] = kj::byte(i * 7);
    c.reply(call, [&](peer::PeerReply::Builder b) {
      b.initList().setFrame(capnp::Data::Reader(big.data(), big.size()));
    });
  });
  bool big_ok = false, big_done = false;
  a.request(
      2, 5, [](peer::PeerRequest::Builder b) { b.initList(); },
      [&](const Status& s, peer::PeerReply::Reader r) {
        big_done = true;
        if (!s.ok() || !r.isList()) return;
        auto d = r.getList().getFrame();
        big_ok = d.size() == (3u << 20);
        for (size_t i = 0; big_ok && i < d.size(); i += 4093) big_ok = d[i] == kj::byte(i * 7);
      });
  REQUIRE(l.run_until([&] { return big_done; }));
  CHECK(big_ok);

  // The link stays open: more requests reuse it.
  for (int i = 0; i < 20; ++i) {
    Result r;
    lookup(c, 0, 4194400 + i, r);
    REQUIRE(l.run_until([&] { return r.done; }));
    CHECK(r.real == uint32_t(4194400 + i + 1000));
  }
}

TEST_CASE("cluster transport: an unreachable node, a silent one, one without a handler", "[cluster]") {
  Loop l;
  Logger log;
  log.set_level(Logger::Level::Silent);
  ClusterConfig cfg = config_for({free_port(), free_port()});
  Cluster a(l.loop, cfg, 0, log);
  REQUIRE(a.start().ok());

  Result r;
  lookup(a, 1, 4194305, r);
  REQUIRE(l.run_until([&] { return r.done; }));
  CHECK(r.status.err == EHOSTUNREACH);
  CHECK(r.status.message == "node beta (" + cfg.nodes[1].address + ") unreachable: Connection refused");
  // Within the backoff a request that cannot wait for the next attempt is
  // answered at once (from the loop); one that can waits for it.
  Result again, patient;
  lookup(a, 1, 4194305, again, 0.05);
  lookup(a, 1, 4194305, patient, 2);
  CHECK_FALSE(again.done);
  REQUIRE(l.run_until([&] { return again.done; }, 0.02));
  CHECK(again.status.message == r.status.message);
  CHECK_FALSE(patient.done);
  REQUIRE(l.run_until([&] { return patient.done; }, 1));
  CHECK(patient.status.message == r.status.message);
  Result nowhere;
  lookup(a, 7, 4194305, nowhere);
  REQUIRE(l.run_until([&] { return nowhere.done; }));
  CHECK(nowhere.status.err == EINVAL);

  Cluster b(l.loop, cfg, 1, log);
  REQUIRE(b.start().ok());
  b.handle(peer::PeerRequest::LOOKUP, [](const PeerCall&, peer::PeerRequest::Reader) {});  // never answers
  l.run_until([] { return false; }, 2 * Cluster::kMinBackoff + 0.05);  // two failures so far
  Result silent;
  lookup(a, 1, 4194305, silent, 0.3);
  REQUIRE(l.run_until([&] { return silent.done; }));
  CHECK(silent.status.err == ETIMEDOUT);
  CHECK(silent.status.message == "node beta (" + cfg.nodes[1].address + "): no reply within 0.3 s");

  Result unknown;
  a.request(1, 2, [](peer::PeerRequest::Builder q) { q.setPing(); }, capture(unknown));
  REQUIRE(l.run_until([&] { return unknown.done; }));
  CHECK(unknown.status.err == ENOSYS);
  CHECK(unknown.status.message.find("does not handle request kind") != std::string::npos);
}

TEST_CASE("cluster transport: a node with another secret is refused", "[cluster]") {
  Loop l;
  Logger log;
  log.set_level(Logger::Level::Silent);
  ClusterConfig good = config_for({free_port(), free_port()});
  ClusterConfig bad = good;
  bad.secret = "some-other-secret-value";
  Cluster a(l.loop, good, 0, log), b(l.loop, bad, 1, log);
  REQUIRE(a.start().ok());
  REQUIRE(b.start().ok());
  answer_lookups(a);
  answer_lookups(b);
  Result ab, ba;
  lookup(a, 1, 4194305, ab);
  lookup(b, 0, 4194305, ba);
  REQUIRE(l.run_until([&] { return ab.done && ba.done; }));
  CHECK(ab.status.err == EHOSTUNREACH);
  CHECK(ab.status.message ==
        "node beta (" + good.nodes[1].address + "): authentication failed (its secret differs from ours)");
  CHECK(ba.status.err == EHOSTUNREACH);
  CHECK(ba.status.message.find("authentication failed") != std::string::npos);
}

TEST_CASE("cluster transport: garbage from a peer closes that connection only", "[cluster]") {
  Loop l;
  Logger log;
  log.set_level(Logger::Level::Silent);
  ClusterConfig cfg = config_for({free_port(), free_port()});
  Cluster a(l.loop, cfg, 0, log), b(l.loop, cfg, 1, log);
  REQUIRE(a.start().ok());
  REQUIRE(b.start().ok());
  answer_lookups(b);

  std::mt19937_64 rng(7);
  std::vector<int> bad;
  int silent = raw_connect(cfg.nodes[1].port);  // says nothing: must not stall the loop
  for (int i = 0; i < 8; ++i) {
    int fd = raw_connect(cfg.nodes[1].port);
    std::vector<uint64_t> junk(1 + rng() % 64);
    for (auto& w : junk) w = rng();
    if (i == 1) junk[0] = 0xffffffffull;  // 2^32 segments
    if (i == 2) junk[0] = uint64_t(0x7fffffff) << 32;  // one enormous segment
    if (i == 3) junk[0] = uint64_t(junk.size() - 1) << 32;  // well framed, random content
    REQUIRE(send(fd, junk.data(), junk.size() * 8, MSG_NOSIGNAL) > 0);
    bad.push_back(fd);
  }
  REQUIRE(l.run_until([&] {
    for (int fd : bad)
      if (!closed_by_peer(fd)) return false;
    return true;
  }));
  Result r;
  lookup(a, 1, 4194305, r);
  REQUIRE(l.run_until([&] { return r.done; }));
  CHECK(r.status.ok());
  CHECK(r.real == 4194305 + 1001);
  CHECK_FALSE(closed_by_peer(silent));
  for (int fd : bad) close(fd);
  close(silent);

  // Authenticated, then nonsense: that link is closed, the node goes on.
  std::atomic<int> fd{-1};
  std::atomic<bool> finished{false};
  Status connected;
  std::thread t([&] {
    capnp::MallocMessageBuilder mb;
    mb.initRoot<peer::Open>().setControl();
    int f = -1;
    connected = connect_and_authenticate(cfg, 0, 1, to_frame(mb), 3000, f);
    fd = f;
    finished = true;
  });
  l.run_until([&] { return finished.load(); });
  t.join();
  REQUIRE(connected.ok());
  // A request of a kind beta has no handler for: answered ENOSYS on this link.
  capnp::MallocMessageBuilder mb;
  auto q = mb.initRoot<peer::PeerRequest>();
  q.setId(77);
  q.setPing();
  Frame f = to_frame(mb);
  REQUIRE(send(fd, f.data(), f.size() * 8, MSG_NOSIGNAL) > 0);
  Frame reply;
  finished = false;
  Status got;
  std::thread t2([&] {
    got = receive_frame(fd, 4096, monotonic_ms() + 3000, reply);
    finished = true;
  });
  l.run_until([&] { return finished.load(); });
  t2.join();
  REQUIRE(got.ok());
  {
    FrameMessage m(reply.data(), reply.size() * 8);
    auto rep = m.root<peer::PeerReply>();
    CHECK(rep.getId() == 77);
    REQUIRE(rep.isError());
    CHECK(rep.getError().getErrno() == ENOSYS);
  }
  std::vector<uint64_t> junk(16);
  for (auto& w : junk) w = rng();
  junk[0] = uint64_t(15) << 32;
  REQUIRE(send(fd, junk.data(), junk.size() * 8, MSG_NOSIGNAL) > 0);
  REQUIRE(l.run_until([&] { return closed_by_peer(fd); }));
  close(fd);
  Result after;
  lookup(a, 1, 4194306, after);
  REQUIRE(l.run_until([&] { return after.done; }));
  CHECK(after.real == 4194306 + 1001);
}

TEST_CASE("cluster transport: a lost link fails its requests, the next one reconnects", "[cluster]") {
  Loop l;
  Logger log;
  log.set_level(Logger::Level::Silent);
  ClusterConfig cfg = config_for({free_port(), free_port()});
  Cluster a(l.loop, cfg, 0, log);
  REQUIRE(a.start().ok());
  auto b = std::make_unique<Cluster>(l.loop, cfg, 1, log);
  REQUIRE(b->start().ok());
  b->handle(peer::PeerRequest::LOOKUP, [](const PeerCall&, peer::PeerRequest::Reader) {});  // holds it
  Result held;
  lookup(a, 1, 4194305, held, 5);
  l.run_until([] { return false; }, 0.2);
  CHECK_FALSE(held.done);
  b.reset();  // beta's daemon goes away
  REQUIRE(l.run_until([&] { return held.done; }));
  CHECK(held.status.err == EHOSTUNREACH);
  CHECK(held.status.message == "node beta (" + cfg.nodes[1].address + "): connection closed");

  b = std::make_unique<Cluster>(l.loop, cfg, 1, log);
  REQUIRE(b->start().ok());
  answer_lookups(*b);
  Result r;
  lookup(a, 1, 4194305, r);
  REQUIRE(l.run_until([&] { return r.done; }));
  CHECK(r.status.ok());
  CHECK(r.real == 4194305 + 1001);
}

TEST_CASE("cluster transport: an image channel is handed over with the bytes after its Open", "[cluster]") {
  Loop l;
  Logger log;
  log.set_level(Logger::Level::Silent);
  ClusterConfig cfg = config_for({free_port(), free_port()});
  Cluster a(l.loop, cfg, 0, log), b(l.loop, cfg, 1, log);
  REQUIRE(a.start().ok());
  REQUIRE(b.start().ok());
  int got_fd = -1;
  uint32_t got_from = 99;
  uint32_t got_vpid = 0;
  b.on_channel(peer::Open::STDIO, [&](int fd, uint32_t from, peer::Open::Reader open) {
    got_fd = fd;
    got_from = from;
    got_vpid = open.getStdio().getVpid();
  });
  std::atomic<bool> finished{false};
  Status s;
  std::thread t([&] {
    int fd = -1;
    s = a.open_channel(
        1, [](peer::Open::Builder o) { o.initStdio().setVpid(4194305); }, 3000, fd);
    if (s.ok()) {
      const char msg[] = "bytes after the Open frame";
      CHECK(write(fd, msg, sizeof msg) == ssize_t(sizeof msg));
      close(fd);
    }
    finished = true;
  });
  REQUIRE(l.run_until([&] { return finished.load() && got_fd >= 0; }));
  t.join();
  REQUIRE(s.ok());
  CHECK(got_from == 0);
  CHECK(got_vpid == 4194305);
  char buf[64] = {};
  size_t have = 0;
  for (ssize_t n; (n = read(got_fd, buf + have, sizeof buf - have)) > 0;) have += size_t(n);
  CHECK(std::string(buf) == "bytes after the Open frame");
  close(got_fd);

  // Without a hook for its kind the connection is closed.
  int fd = -1;
  finished = false;
  std::thread t2([&] {
    s = a.open_channel(1, [](peer::Open::Builder o) { o.initImage(); }, 3000, fd);
    finished = true;
  });
  l.run_until([&] { return finished.load(); });
  t2.join();
  REQUIRE(s.ok());  // welcomed, then closed
  REQUIRE(l.run_until([&] { return closed_by_peer(fd); }));
  close(fd);
}

TEST_CASE("cluster transport: the blocking handshake on both sides", "[cluster]") {
  uint16_t port = free_port();
  ClusterConfig cfg = config_for({free_port(), port});
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(lfd, 4) == 0);

  for (bool same_secret : {true, false}) {
    ClusterConfig mine = cfg;
    if (!same_secret) mine.secret = "not-the-cluster-secret";
    Status client;
    int cfd = -1;
    std::thread t([&] {
      capnp::MallocMessageBuilder mb;
      mb.initRoot<peer::Open>().initStdio().setFd(2);
      client = connect_and_authenticate(mine, 0, 1, to_frame(mb), 3000, cfd);
      if (client.ok()) CHECK(write(cfd, "after", 5) == 5);
    });
    int sfd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(sfd >= 0);
    uint32_t from = 99;
    Frame open;
    Status server = accept_and_authenticate(cfg, 1, sfd, 3000, from, open);
    t.join();
    if (same_secret) {
      REQUIRE(server.ok());
      REQUIRE(client.ok());
      CHECK(from == 0);
      FrameMessage m(open.data(), open.size() * 8);
      CHECK(m.root<peer::Open>().getStdio().getFd() == 2);
      char buf[8] = {};
      CHECK(read(sfd, buf, sizeof buf) == 5);
      CHECK(std::string(buf) == "after");
      close(cfd);
    } else {
      // The connector sees the listener's proof fail and hangs up; the
      // listener never gets a proof.
      CHECK(client.err == EACCES);
      CHECK(client.message == "node beta (" + cfg.nodes[1].address +
                                  "): authentication failed (its secret differs from ours)");
      CHECK_FALSE(server.ok());
    }
    close(sfd);
  }
  close(lfd);

  ClusterConfig down = config_for({free_port(), free_port()});
  int fd = -1;
  capnp::MallocMessageBuilder mb;
  mb.initRoot<peer::Open>().setControl();
  Status s = connect_and_authenticate(down, 0, 1, to_frame(mb), 1000, fd);
  CHECK(s.message == "node beta (" + down.nodes[1].address + ") unreachable: Connection refused");
}
