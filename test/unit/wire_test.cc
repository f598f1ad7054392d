// The daemon protocol's value types and framing (common/wire.h).
#include <malloc.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "client_connection.h"
#include "wire.h"

using namespace vproc;

// --- counting allocator -----------------------------------------------------
// The preload library encodes and decodes small messages inside fork and exec
// wrappers (and possibly signal handlers), so those paths must not allocate.
// This binary interposes the malloc family and counts calls while a test asks.
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {
thread_local bool t_counting = false;
std::atomic<long> g_allocations{0};

void count() {
  if (t_counting) g_allocations.fetch_add(1, std::memory_order_relaxed);
}

// Counts allocations made by this thread while it lives.
struct AllocationCounter {
  AllocationCounter() {
    g_allocations = 0;
    t_counting = true;
  }
  ~AllocationCounter() { t_counting = false; }
  long count() const { return g_allocations.load(); }
};
}  // namespace

extern "C" {
void* malloc(size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
  count();
  return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
  count();
  return __libc_realloc(p, n);
}
void* memalign(size_t a, size_t n) {
  count();
  return __libc_memalign(a, n);
}
void* aligned_alloc(size_t a, size_t n) {
  count();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
  count();
  void* p = __libc_memalign(a, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
}

// --- helpers ------------------------------------------------------------------
namespace {

struct Frame {
  alignas(8) unsigned char bytes[wire::kSmallFrameBytes];
  size_t len = 0;
};

template <typename M>
Frame encoded(const M& m) {
  Frame f;
  f.len = wire::encode(m, f.bytes, sizeof f.bytes);
  return f;
}

wire::Request round_trip_request(const wire::Request& in) {
  Frame f = encoded(in);
  REQUIRE(f.len > 0);
  REQUIRE(f.len % 8 == 0);
  REQUIRE(wire::frame_size(f.bytes, f.len) == f.len);
  wire::Request out;
  REQUIRE(wire::decode(f.bytes, f.len, out));
  REQUIRE(out.index() == in.index());
  return out;
}

wire::Reply round_trip_reply(const wire::Reply& in) {
  Frame f = encoded(in);
  REQUIRE(f.len > 0);
  REQUIRE(wire::frame_size(f.bytes, f.len) == f.len);
  wire::Reply out;
  REQUIRE(wire::decode(f.bytes, f.len, out));
  REQUIRE(out.index() == in.index());
  return out;
}

}  // namespace

TEST_CASE("wire: every request survives encode and decode", "[wire]") {
  auto h = std::get<wire::Hello>(round_trip_request(wire::Hello{7, 4194999, 1234}));
  CHECK(h.protocol == 7);
  CHECK(h.vpid == 4194999);
  CHECK(h.parent == 1234);

  auto s = std::get<wire::Spawned>(round_trip_request(wire::Spawned{4194310, 4242, 4194305, true}));
  CHECK(s.vpid == 4194310);
  CHECK(s.real == 4242);
  CHECK(s.parent == 4194305);
  CHECK(s.thread);
  CHECK_FALSE(std::get<wire::Spawned>(round_trip_request(wire::Spawned{1, 2, 3, false})).thread);

  CHECK(std::get<wire::Reaped>(round_trip_request(wire::Reaped{4194400})).vpid == 4194400);
  CHECK(std::get<wire::LeaseRequest>(round_trip_request(wire::LeaseRequest{256})).count == 256);
  CHECK(std::get<wire::Lookup>(round_trip_request(wire::Lookup{0x7fffffff})).vpid == 0x7fffffff);

  auto sig = std::get<wire::Signal>(round_trip_request(wire::Signal{-4194305, 9}));
  CHECK(sig.target == -4194305);
  CHECK(sig.signo == 9);

  CHECK(std::get<wire::ListRequest>(round_trip_request(wire::ListRequest{true})).threads);
  CHECK_FALSE(std::get<wire::ListRequest>(round_trip_request(wire::ListRequest{false})).threads);
  round_trip_request(wire::Ping{});
  CHECK(std::get<wire::LookupReal>(round_trip_request(wire::LookupReal{31999})).real == 31999);
  CHECK(std::get<wire::RingAttach>(round_trip_request(wire::RingAttach{1023})).fd == 1023);
}

TEST_CASE("wire: every request fits the library's send buffer; Reaped is 32 bytes", "[wire]") {
  // libvproc sizes its stack buffers by these (daemon_link.cc).
  alignas(8) char buf[wire::kRequestFrameBytes];
  const wire::Request all[] = {
      wire::Hello{wire::kProtocolVersion, 0x7fffffff, 0x7fffffff},
      wire::Spawned{0x7fffffff, 4194303, 0x7fffffff, true},
      wire::Reaped{0x7fffffff},
      wire::LeaseRequest{0xffffffff},
      wire::Lookup{0x7fffffff},
      wire::Signal{-0x7fffffffll, 64},
      wire::ListRequest{true},
      wire::Ping{},
      wire::LookupReal{4194303},
      wire::RingAttach{0x7fffffff},
  };
  for (const wire::Request& r : all) CHECK(wire::encode(r, buf, sizeof buf) > 0);
  CHECK(wire::encode(wire::Request(wire::Reaped{0x7fffffff}), buf, 32) == 32);
  CHECK(wire::encode(wire::Request(wire::Reaped{4194305}), buf, 32) == 32);
}

TEST_CASE("wire: checkpoint messages survive encode and decode in a large frame", "[wire]") {
  // They carry paths: encoded with kLargeFrameBytes, not the fork path's
  // kRequestFrameBytes, and still within what the daemon reads in one request.
  std::string path(wire::kPathTextBytes - 1, 'p');
  path[0] = '/';
  std::string message(399, 'm');
  alignas(8) unsigned char buf[wire::kLargeFrameBytes];
  auto large = [&](const auto& m, auto& out) {
    size_t n = wire::encode(m, buf, sizeof buf);
    REQUIRE(n > 0);
    CHECK(n <= vproc::daemon::ClientConnection::kMaxRequestBytes);
    REQUIRE(wire::frame_size(buf, n) == n);
    REQUIRE(wire::decode(buf, n, out));
  };

  wire::CheckpointRequest req;
  req.vpid = 4194305;
  req.flags = 3;
  req.path.set(path.c_str());
  CHECK(wire::encode(wire::Request(req), buf, wire::kRequestFrameBytes) == 0);
  wire::Request r;
  large(wire::Request(req), r);
  auto req2 = std::get<wire::CheckpointRequest>(r);
  CHECK(req2.vpid == 4194305);
  CHECK(req2.flags == 3);
  CHECK(std::string(req2.path.s) == path);

  wire::CheckpointResult res;
  res.request_id = 0xffffff;
  res.vpid = 4194305;
  res.err = 95;
  res.image_bytes = 1ull << 40;
  res.data_bytes = 1ull << 39;
  res.frozen_ns = 123;
  res.write_ns = 456;
  res.message.set(message.c_str());
  res.path.set(path.c_str());
  large(wire::Request(res), r);
  auto res2 = std::get<wire::CheckpointResult>(r);
  CHECK(res2.request_id == 0xffffff);
  CHECK(res2.err == 95);
  CHECK(res2.image_bytes == 1ull << 40);
  CHECK(res2.write_ns == 456);
  CHECK(std::string(res2.message.s) == message);
  CHECK(std::string(res2.path.s) == path);

  wire::CheckpointPolicy pol;
  pol.vpid = 4194305;
  pol.interval_ms = 1500;
  pol.keep = 3;
  pol.dir.set(path.c_str());
  large(wire::Request(pol), r);
  auto pol2 = std::get<wire::CheckpointPolicy>(r);
  CHECK(pol2.interval_ms == 1500);
  CHECK(pol2.keep == 3);
  CHECK(std::string(pol2.dir.s) == path);

  auto job = std::get<wire::CheckpointJob>(round_trip_request(wire::CheckpointJob{4194305, 77}));
  CHECK(job.request_id == 77);
  auto restored = std::get<wire::Restored>(round_trip_request(wire::Restored{4194305, 4194304 + 9, 4242}));
  CHECK(restored.real == 4242);
  CHECK(std::get<wire::Hello>(round_trip_request(wire::Hello{wire::kProtocolVersion, 0, 1, 62})).ckpt_signal == 62);

  wire::Reply rep;
  wire::CheckpointSpec spec;
  spec.flags = 2;
  spec.path.set(path.c_str());
  large(wire::Reply(spec), rep);
  CHECK(std::string(std::get<wire::CheckpointSpec>(rep).path.s) == path);
  large(wire::Reply(wire::CheckpointDone{res}), rep);
  CHECK(std::string(std::get<wire::CheckpointDone>(rep).result.message.s) == message);
}

TEST_CASE("wire: every small reply survives encode and decode", "[wire]") {
  round_trip_reply(wire::Ok{});

  wire::Error e;
  e.err = 3;
  e.message.set("no such vpid 4194999");
  auto e2 = std::get<wire::Error>(round_trip_reply(e));
  CHECK(e2.err == 3);
  CHECK(std::string(e2.message.s) == "no such vpid 4194999");

  wire::HelloOk h;
  h.vpid = 4194305;
  h.lease = {4194306, 16};
  h.node_index = 3;
  h.node_name.set("node-three");
  auto h2 = std::get<wire::HelloOk>(round_trip_reply(h));
  CHECK(h2.vpid == 4194305);
  CHECK(h2.lease.first == 4194306);
  CHECK(h2.lease.count == 16);
  CHECK(h2.node_index == 3);
  CHECK(std::string(h2.node_name.s) == "node-three");
  CHECK_FALSE(h2.guest);
  h.guest = true;
  h.parent = 812;  // a guest's parent: here a real pid on the node it came from
  h2 = std::get<wire::HelloOk>(round_trip_reply(h));
  CHECK(h2.guest);
  CHECK(h2.parent == 812);

  auto l = std::get<wire::Lease>(round_trip_reply(wire::Lease{4194400, 200}));
  CHECK(l.first == 4194400);
  CHECK(l.count == 200);

  auto w = std::get<wire::Where>(round_trip_reply(wire::Where{1234, 3, 9}));
  CHECK(w.real == 1234);
  CHECK(w.state == 3);
  CHECK(w.node_index == 9);

  wire::Pong p;
  p.protocol = wire::kProtocolVersion;
  p.node_index = 1;
  p.daemon_pid = 999;
  p.processes = 12;
  p.node_name.set("alpha");
  auto p2 = std::get<wire::Pong>(round_trip_reply(p));
  CHECK(p2.protocol == wire::kProtocolVersion);
  CHECK(p2.node_index == 1);
  CHECK(p2.daemon_pid == 999);
  CHECK(p2.processes == 12);
  CHECK(std::string(p2.node_name.s) == "alpha");
}

TEST_CASE("wire: texts longer than their fixed buffer are cut, not overrun", "[wire]") {
  std::string long_msg(500, 'x');
  wire::Error e;
  e.err = 1;
  e.message.set(long_msg.c_str());
  CHECK(strlen(e.message.s) == sizeof e.message.s - 1);
  auto back = std::get<wire::Error>(round_trip_reply(e));
  CHECK(std::string(back.message.s) == std::string(sizeof e.message.s - 1, 'x'));
}

TEST_CASE("wire: encode refuses a buffer too small, and lists go through encode_list", "[wire]") {
  alignas(8) unsigned char small[16];
  CHECK(wire::encode(wire::Request(wire::Hello{}), small, sizeof small) == 0);
  alignas(8) unsigned char buf[wire::kSmallFrameBytes];
  CHECK(wire::encode(wire::Reply(wire::ListFollows{}), buf, sizeof buf) == 0);
}

TEST_CASE("wire: frame_size on partial prefixes and garbage", "[wire]") {
  Frame f = encoded(wire::Request(wire::Spawned{4194310, 4242, 4194305, false}));
  REQUIRE(f.len > 8);
  // Fewer than 4 bytes: cannot tell yet.
  for (size_t have = 0; have < 4; ++have) CHECK(wire::frame_size(f.bytes, have) == 0);
  // A single segment's table is 8 bytes: the size is known from then on.
  CHECK(wire::frame_size(f.bytes, 4) == 0);
  for (size_t have = 8; have <= f.len; have += 8) CHECK(wire::frame_size(f.bytes, have) == f.len);

  alignas(8) uint32_t hdr[4] = {};
  SECTION("too many segments") {
    hdr[0] = 100000;
    CHECK(wire::frame_size(hdr, sizeof hdr) == SIZE_MAX);
  }
  SECTION("a segment larger than the frame limit") {
    hdr[0] = 0;
    hdr[1] = uint32_t(wire::kMaxFrameBytes / 8);
    CHECK(wire::frame_size(hdr, sizeof hdr) == SIZE_MAX);
  }
  SECTION("several segments: needs the whole table before it can tell") {
    hdr[0] = 2;  // 3 segments: table of 4 words... (1 + 3) * 4 = 16 bytes
    hdr[1] = 1;
    hdr[2] = 2;
    hdr[3] = 3;
    CHECK(wire::frame_size(hdr, 8) == 0);
    CHECK(wire::frame_size(hdr, 16) == 16 + 6 * 8);
  }
  SECTION("random bytes never crash and give an answer in range") {
    std::mt19937 rng(42);
    alignas(8) uint32_t junk[64];
    for (int i = 0; i < 2000; ++i) {
      for (auto& w : junk) w = rng();
      size_t n = wire::frame_size(junk, sizeof junk);
      CHECK((n == SIZE_MAX || n == 0 || n <= wire::kMaxFrameBytes));
    }
  }
}

TEST_CASE("wire: decode rejects truncated, garbage and multi-segment frames", "[wire]") {
  Frame f = encoded(wire::Request(wire::Hello{wire::kProtocolVersion, 0, 77}));
  REQUIRE(f.len >= 16);
  wire::Request req;
  wire::Reply rep;

  SECTION("truncated") {
    for (size_t len = 0; len < f.len; len += 8) CHECK_FALSE(wire::decode(f.bytes, len, req));
  }
  SECTION("misaligned buffer") {
    alignas(8) unsigned char shifted[wire::kSmallFrameBytes + 8];
    memcpy(shifted + 4, f.bytes, f.len);
    CHECK_FALSE(wire::decode(shifted + 4, f.len, req));
  }
  SECTION("a header that disagrees with the length") {
    Frame g = f;
    reinterpret_cast<uint32_t*>(g.bytes)[1] += 1;
    CHECK_FALSE(wire::decode(g.bytes, g.len, req));
  }
  SECTION("a root pointer out of bounds") {
    Frame g = f;
    // Root struct pointer (1 data word, 1 pointer) whose offset (bits 2..31)
    // points far beyond the segment.
    uint64_t bad = (uint64_t(0x00010000) << 2) | (uint64_t(1) << 32) | (uint64_t(1) << 48);
    memcpy(g.bytes + 8, &bad, 8);
    CHECK_FALSE(wire::decode(g.bytes, g.len, req));
  }
  SECTION("random bodies behind a valid header never crash") {
    std::mt19937_64 rng(7);
    alignas(8) uint64_t junk[16];
    int accepted = 0;
    for (int i = 0; i < 5000; ++i) {
      for (auto& w : junk) w = rng();
      auto* hdr = reinterpret_cast<uint32_t*>(junk);
      hdr[0] = 0;
      hdr[1] = 15;
      accepted += wire::decode(junk, sizeof junk, req);
      (void)wire::decode(junk, sizeof junk, rep);
    }
    // Some random words do form a valid message; most do not.
    CHECK(accepted < 5000);
  }
  SECTION("more than one segment") {
    // Two segments: segment 0 holds a far pointer into segment 1 (legal Cap'n
    // Proto), which the allocation-free decoder must refuse.
    alignas(8) uint64_t two[8] = {};
    auto* hdr = reinterpret_cast<uint32_t*>(two);
    hdr[0] = 1;  // two segments
    hdr[1] = 1;  // segment 0: 1 word
    hdr[2] = 4;  // segment 1: 4 words
    // table: 4 bytes count + 2 * 4 sizes = 12, padded to 16 bytes
    size_t len = 16 + 8 * 5;
    REQUIRE(wire::frame_size(two, len) == len);
    // far pointer (tag 2) to word 0 of segment 1
    two[2] = 2 | (uint64_t(0) << 3) | (uint64_t(1) << 32);
    // landing pad: a struct pointer with 1 data word, 1 pointer
    two[3] = 0 | (uint64_t(1) << 32) | (uint64_t(1) << 48);
    CHECK_FALSE(wire::decode(two, len, req));
    // A reply that spans segments can only be a list: decode says so.
    REQUIRE(wire::decode(two, len, rep));
    CHECK(std::holds_alternative<wire::ListFollows>(rep));
  }
}

TEST_CASE("wire: encode_list and decode_list carry 2,000 entries", "[wire]") {
  std::vector<wire::ProcessEntry> in;
  for (uint32_t i = 0; i < 2000; ++i) {
    wire::ProcessEntry e;
    e.vpid = 4194305 + i;
    e.node_index = 0;
    e.node_name = "node-0";
    e.real = 1000 + i;
    e.parent = i ? 4194305 + i - 1 : 1;
    e.uid = i % 3;
    e.tgid = e.vpid;
    e.state = i % 2 ? "sleeping" : "running";
    e.start_time_ms = 1700000000000ull + i;
    e.argv = {"/bin/prog", "--index=" + std::to_string(i), std::string(i % 50, 'a')};
    e.thread = i % 7 == 0;
    in.push_back(e);
  }
  std::vector<uint64_t> frame = wire::encode_list(in);
  size_t len = frame.size() * 8;
  REQUIRE(wire::frame_size(frame.data(), len) == len);

  wire::Reply rep;
  REQUIRE(wire::decode(frame.data(), len, rep));
  CHECK(std::holds_alternative<wire::ListFollows>(rep));

  std::vector<wire::ProcessEntry> out;
  REQUIRE(wire::decode_list(frame.data(), len, out));
  REQUIRE(out.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const auto& a = in[i];
    const auto& b = out[i];
    REQUIRE(a.vpid == b.vpid);
    REQUIRE(a.real == b.real);
    REQUIRE(a.parent == b.parent);
    REQUIRE(a.uid == b.uid);
    REQUIRE(a.tgid == b.tgid);
    REQUIRE(a.node_name == b.node_name);
    REQUIRE(a.state == b.state);
    REQUIRE(a.start_time_ms == b.start_time_ms);
    REQUIRE(a.argv == b.argv);
    REQUIRE(a.thread == b.thread);
  }

  // An empty list is a list too.
  std::vector<uint64_t> empty = wire::encode_list({});
  REQUIRE(wire::decode_list(empty.data(), empty.size() * 8, out));
  CHECK(out.empty());

  // Truncated or non-list frames are refused.
  CHECK_FALSE(wire::decode_list(frame.data(), len - 8, out));
  Frame pong = encoded(wire::Reply(wire::Pong{}));
  CHECK_FALSE(wire::decode_list(pong.bytes, pong.len, out));
}

TEST_CASE("wire: small messages are encoded and decoded without allocating (wire_noalloc_test)",
          "[wire]") {
  // Sanity: the counter does see allocations.
  {
    AllocationCounter c;
    void* p = malloc(32);
    free(p);
    std::vector<int> v(100);
    CHECK(c.count() >= 2);
  }

  std::vector<wire::Request> requests = {
      wire::Hello{wire::kProtocolVersion, 4194305, 1},
      wire::Spawned{4194306, 4242, 4194305, true},
      wire::Reaped{4194306},
      wire::LeaseRequest{64},
      wire::Lookup{4194307},
      wire::Signal{-4194305, 15},
      wire::ListRequest{true},
      wire::Ping{},
  };
  wire::Error err;
  err.err = 1;
  err.message.set("not permitted to signal 4194305");
  wire::HelloOk hello;
  hello.vpid = 4194305;
  hello.lease = {4194306, 16};
  hello.node_name.set("node");
  wire::Pong pong;
  pong.node_name.set("node");
  std::vector<wire::Reply> replies = {wire::Ok{}, err, hello, wire::Lease{1, 2}, wire::Where{1, 2, 3}, pong};

  long allocations = 0;
  size_t total = 0;
  {
    AllocationCounter c;
    for (const auto& r : requests) {
      alignas(8) unsigned char buf[wire::kSmallFrameBytes];
      size_t n = wire::encode(r, buf, sizeof buf);
      wire::Request back;
      total += n && wire::decode(buf, n, back);
    }
    for (const auto& r : replies) {
      alignas(8) unsigned char buf[wire::kSmallFrameBytes];
      size_t n = wire::encode(r, buf, sizeof buf);
      wire::Reply back;
      total += n && wire::decode(buf, n, back);
    }
    allocations = c.count();
  }
  CHECK(total == requests.size() + replies.size());
  REQUIRE(allocations == 0);
}

TEST_CASE("wire: MigrateProgress and its Progress answer survive encode and decode", "[wire]") {
  CHECK(std::get<wire::MigrateProgress>(round_trip_request(wire::MigrateProgress{4194305})).vpid == 4194305);
  alignas(8) char small[wire::kRequestFrameBytes];
  CHECK(wire::encode(wire::Request(wire::MigrateProgress{0x7fffffff}), small, sizeof small) > 0);

  auto p = std::get<wire::Progress>(
      round_trip_reply(wire::Progress{wire::MigrateStage::Sending, 412ull << 20, 5ull << 40}));
  CHECK(p.stage == wire::MigrateStage::Sending);
  CHECK(p.bytes_done == 412ull << 20);
  CHECK(p.bytes_total == 5ull << 40);
  for (auto s : {wire::MigrateStage::None, wire::MigrateStage::Checking, wire::MigrateStage::Checkpointing,
                 wire::MigrateStage::Restoring, wire::MigrateStage::Committing})
    CHECK(std::get<wire::Progress>(round_trip_reply(wire::Progress{s, 0, 0})).stage == s);

  // A stage this version does not know is refused, not guessed.
  alignas(8) unsigned char buf[wire::kSmallFrameBytes];
  size_t n = wire::encode(wire::Reply(wire::Progress{wire::MigrateStage(6), 1, 2}), buf, sizeof buf);
  REQUIRE(n > 0);
  wire::Reply back;
  CHECK_FALSE(wire::decode(buf, n, back));
}
