// The peer handshake's proofs and state machines (vprocd/peer_auth.h,
// peer_handshake.h), without sockets, including what a hostile peer may send.
#include <catch2/catch.hpp>
#include <cstring>
#include <random>

#include "cluster_config.h"
#include "peer.capnp.h"
#include "peer_auth.h"
#include "peer_handshake.h"

using namespace vproc::daemon;

namespace {

ClusterConfig three_nodes(const std::string& secret) {
  ClusterConfig c;
  REQUIRE(parse_cluster_text("secret /k\nalpha 127.0.0.1:1\nbeta 127.0.0.1:2\ngamma 127.0.0.1:3\n", "/c", c).ok());
  c.secret = secret;
  return c;
}

const void* data(const Frame& f) { return f.data(); }
size_t len(const Frame& f) { return f.size() * sizeof(uint64_t); }

// A well-framed message of the wrong kind, or with chosen fields.
Frame hello_frame(uint32_t version, uint32_t node, size_t nonce_bytes, const ClusterConfig& c) {
  capnp::MallocMessageBuilder mb;
  auto h = mb.initRoot<vproc::peer::AuthHello>();
  h.setVersion(version);
  h.setNode(node);
  std::vector<kj::byte> nonce(nonce_bytes, 7);
  h.setNonce(capnp::Data::Reader(nonce.data(), nonce.size()));
  h.setClusterDigest(capnp::Data::Reader(c.digest.data(), c.digest.size()));
  return to_frame(mb);
}

}  // namespace

TEST_CASE("peer auth: a proof depends on the secret, the role, both nonces and both nodes", "[cluster]") {
  AuthTranscript t;
  t.connector_nonce = random_nonce();
  t.listener_nonce = random_nonce();
  CHECK(t.connector_nonce != t.listener_nonce);
  t.connector_node = 1;
  t.listener_node = 2;
  Proof p = compute_proof("secret-0123456789", AuthRole::Connector, t);
  CHECK(proof_matches("secret-0123456789", AuthRole::Connector, t, p.data(), p.size()));
  CHECK_FALSE(proof_matches("secret-0123456789", AuthRole::Connector, t, p.data(), p.size() - 1));
  CHECK_FALSE(proof_matches("secret-012345678X", AuthRole::Connector, t, p.data(), p.size()));
  CHECK_FALSE(proof_matches("secret-0123456789", AuthRole::Listener, t, p.data(), p.size()));
  AuthTranscript u = t;
  u.listener_nonce[31] ^= 1;
  CHECK_FALSE(proof_matches("secret-0123456789", AuthRole::Connector, u, p.data(), p.size()));
  u = t;
  u.connector_node = 0;
  CHECK_FALSE(proof_matches("secret-0123456789", AuthRole::Connector, u, p.data(), p.size()));
  u = t;
  std::swap(u.connector_nonce, u.listener_nonce);
  CHECK_FALSE(proof_matches("secret-0123456789", AuthRole::Connector, u, p.data(), p.size()));
}

TEST_CASE("peer handshake: both sides prove the secret", "[cluster]") {
  ClusterConfig c = three_nodes("the-shared-secret!");
  ConnectorHandshake conn(c, 0, 2);
  ListenerHandshake lis(c, 2);
  Frame challenge, proof, welcome;
  REQUIRE(lis.on_hello(data(conn.hello()), len(conn.hello()), challenge).ok());
  CHECK(lis.peer_node() == 0);
  REQUIRE(conn.on_challenge(data(challenge), len(challenge), proof).ok());
  REQUIRE(lis.on_proof(data(proof), len(proof), welcome).ok());
  CHECK(conn.on_welcome(data(welcome), len(welcome)).ok());
}

TEST_CASE("peer handshake: a different secret fails on both sides", "[cluster]") {
  ClusterConfig a = three_nodes("the-shared-secret!");
  ClusterConfig b = three_nodes("another-secret!!!!");
  SECTION("the connector rejects the listener's proof") {
    ConnectorHandshake conn(a, 0, 1);
    ListenerHandshake lis(b, 1);
    Frame challenge, proof;
    Frame hello = conn.hello();
    REQUIRE(lis.on_hello(data(hello), len(hello), challenge).ok());
    Status s = conn.on_challenge(data(challenge), len(challenge), proof);
    CHECK(s.err == EACCES);
    CHECK(s.message == "authentication failed (its secret differs from ours)");
  }
  SECTION("the listener rejects a proof made with another secret") {
    ListenerHandshake lis(a, 1);
    ConnectorHandshake honest(a, 0, 1);
    Frame hello = honest.hello(), challenge, proof, welcome;
    REQUIRE(lis.on_hello(data(hello), len(hello), challenge).ok());
    // A connector that skips checking the listener and forges its own proof.
    capnp::MallocMessageBuilder mb;
    std::vector<kj::byte> junk(kProofBytes, 0x5a);
    mb.initRoot<vproc::peer::AuthProof>().setProof(capnp::Data::Reader(junk.data(), junk.size()));
    Status s = lis.on_proof(data(to_frame(mb)), len(to_frame(mb)), welcome);
    CHECK(s.err == EACCES);
    CHECK(s.message == "authentication failed");
  }
}

TEST_CASE("peer handshake: the listener refuses other versions, cluster files and node claims", "[cluster]") {
  ClusterConfig c = three_nodes("the-shared-secret!");
  ListenerHandshake lis(c, 1);
  Frame out;
  Status s = lis.on_hello(data(hello_frame(99, 0, 32, c)), len(hello_frame(99, 0, 32, c)), out);
  CHECK(s.message == "peer protocol 99, this daemon speaks 1");
  s = lis.on_hello(data(hello_frame(1, 7, 32, c)), len(hello_frame(1, 7, 32, c)), out);
  CHECK(s.message == "claims node index 7, which is not another node of the cluster");
  s = lis.on_hello(data(hello_frame(1, 1, 32, c)), len(hello_frame(1, 1, 32, c)), out);
  CHECK(s.message.find("not another node") != std::string::npos);
  s = lis.on_hello(data(hello_frame(1, 0, 31, c)), len(hello_frame(1, 0, 31, c)), out);
  CHECK(s.message == "malformed handshake message");

  ClusterConfig other;
  REQUIRE(parse_cluster_text("secret /k\nalpha 127.0.0.1:1\nbeta 127.0.0.1:2\ngamma 127.0.0.1:4\n", "/c", other).ok());
  other.secret = c.secret;
  ConnectorHandshake conn(other, 0, 1);
  Frame hello = conn.hello();
  s = lis.on_hello(data(hello), len(hello), out);
  CHECK(s.message == "the cluster files differ (nodes, order or addresses)");
  // The refusal is sent back and the connector reports it.
  Frame proof;
  Status r = conn.on_challenge(data(out), len(out), proof);
  CHECK(r.err == EPROTO);
  CHECK(r.message == "refused the connection: the cluster files differ (nodes, order or addresses)");
}

TEST_CASE("peer handshake: the connector checks who answers", "[cluster]") {
  ClusterConfig c = three_nodes("the-shared-secret!");
  ConnectorHandshake conn(c, 0, 1);
  ListenerHandshake wrong(c, 2);  // gamma listens where beta was expected
  Frame hello = conn.hello(), challenge, proof;
  REQUIRE(wrong.on_hello(data(hello), len(hello), challenge).ok());
  Status s = conn.on_challenge(data(challenge), len(challenge), proof);
  CHECK(s.message == "answers as node index 2 (gamma), not 1");
}

TEST_CASE("peer handshake: garbage is an error, never an exception", "[cluster]") {
  ClusterConfig c = three_nodes("the-shared-secret!");
  std::mt19937_64 rng(42);
  for (int round = 0; round < 2000; ++round) {
    // Random words behind a plausible single-segment header.
    size_t words = 1 + rng() % 40;
    Frame f(words + 1);
    for (auto& w : f) w = rng();
    if (round % 2) {
      f[0] = uint64_t(words) << 32;  // segment count 1, size `words`
    }
    Frame out;
    ListenerHandshake lis(c, 1);
    ConnectorHandshake conn(c, 0, 1);
    CHECK_NOTHROW(lis.on_hello(f.data(), len(f), out));
    CHECK_NOTHROW(lis.on_proof(f.data(), len(f), out));
    CHECK_NOTHROW(conn.on_challenge(f.data(), len(f), out));
    CHECK_NOTHROW(conn.on_welcome(f.data(), len(f)));
    CHECK_FALSE(lis.on_proof(f.data(), len(f), out).ok());
  }
}

TEST_CASE("peer frames: sizes and the bytes still missing", "[cluster]") {
  Frame f = hello_frame(1, 0, 32, three_nodes("x"));
  size_t total = len(f);
  CHECK(frame_bytes_missing(f.data(), 0) == 8);
  CHECK(frame_bytes_missing(f.data(), 5) == 3);
  CHECK(frame_bytes_missing(f.data(), 8) == total - 8);
  CHECK(frame_bytes_missing(f.data(), total) == 0);
  uint32_t huge[2] = {1000, 0};  // 1001 segments: invalid
  CHECK(frame_bytes_missing(huge, 8) == SIZE_MAX);
  uint32_t three[2] = {2, 1};  // 3 segments: a 16-byte table
  CHECK(frame_bytes_missing(three, 8) == 8);
}
