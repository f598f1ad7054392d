#include "peer_handshake.h"

#include <cerrno>
#include <cstring>

#include "peer.capnp.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

capnp::Data::Reader bytes(const void* p, size_t n) {
  return capnp::Data::Reader(static_cast<const kj::byte*>(p), n);
}

const Status kMalformed = Status::failure(EPROTO, "malformed handshake message");

}  // namespace

ConnectorHandshake::ConnectorHandshake(const ClusterConfig& config, uint32_t self, uint32_t target)
    : config_(config) {
  t_.connector_node = self;
  t_.listener_node = target;
  t_.connector_nonce = random_nonce();
}

Frame ConnectorHandshake::hello() {
  capnp::MallocMessageBuilder mb;
  auto h = mb.initRoot<peer::AuthHello>();
  h.setVersion(peer::PROTOCOL_VERSION);
  h.setNode(t_.connector_node);
  h.setNonce(bytes(t_.connector_nonce.data(), kNonceBytes));
  h.setClusterDigest(bytes(config_.digest.data(), config_.digest.size()));
  return to_frame(mb);
}

Status ConnectorHandshake::on_challenge(const void* data, size_t len, Frame& proof_out) {
  try {
    FrameMessage msg(data, len);
    auto c = msg.root<peer::AuthChallenge>();
    if (c.hasRefusal() && c.getRefusal().size())
      return Status::failure(EPROTO, strf("refused the connection: %s", c.getRefusal().cStr()));
    if (c.getVersion() != peer::PROTOCOL_VERSION)
      return Status::failure(EPROTO, strf("speaks peer protocol %u, this daemon %u", c.getVersion(),
                                          peer::PROTOCOL_VERSION));
    if (c.getNode() != t_.listener_node) {
      uint32_t n = c.getNode();
      return Status::failure(EPROTO, strf("answers as node index %u%s%s%s, not %u", n,
                                          n < config_.nodes.size() ? " (" : "",
                                          n < config_.nodes.size() ? config_.nodes[n].name.c_str() : "",
                                          n < config_.nodes.size() ? ")" : "", t_.listener_node));
    }
    auto nonce = c.getNonce();
    if (nonce.size() != kNonceBytes) return kMalformed;
    memcpy(t_.listener_nonce.data(), nonce.begin(), kNonceBytes);
    auto proof = c.getProof();
    if (!proof_matches(config_.secret, AuthRole::Listener, t_, proof.begin(), proof.size()))
      return Status::failure(EACCES, "authentication failed (its secret differs from ours)");
  } catch (const kj::Exception&) {
    return kMalformed;
  }
  capnp::MallocMessageBuilder mb;
  Proof mine = compute_proof(config_.secret, AuthRole::Connector, t_);
  mb.initRoot<peer::AuthProof>().setProof(bytes(mine.data(), kProofBytes));
  proof_out = to_frame(mb);
  return Status::success();
}

Status ConnectorHandshake::on_welcome(const void* data, size_t len) {
  try {
    FrameMessage msg(data, len);
    msg.root<peer::AuthWelcome>();
  } catch (const kj::Exception&) {
    return kMalformed;
  }
  return Status::success();
}

ListenerHandshake::ListenerHandshake(const ClusterConfig& config, uint32_t self) : config_(config) {
  t_.listener_node = self;
  t_.listener_nonce = random_nonce();
}

Status ListenerHandshake::on_hello(const void* data, size_t len, Frame& challenge_out) {
  Status s = Status::success();
  try {
    FrameMessage msg(data, len);
    auto h = msg.root<peer::AuthHello>();
    auto nonce = h.getNonce();
    auto digest = h.getClusterDigest();
    if (h.getVersion() != peer::PROTOCOL_VERSION) {
      s = Status::failure(EPROTO, strf("peer protocol %u, this daemon speaks %u", h.getVersion(),
                                       peer::PROTOCOL_VERSION));
    } else if (nonce.size() != kNonceBytes) {
      s = kMalformed;
    } else if (digest.size() != config_.digest.size() ||
               memcmp(digest.begin(), config_.digest.data(), config_.digest.size()) != 0) {
      s = Status::failure(EPROTO, "the cluster files differ (nodes, order or addresses)");
    } else if (h.getNode() >= config_.nodes.size() || h.getNode() == t_.listener_node) {
      s = Status::failure(EPROTO, strf("claims node index %u, which is not another node of the cluster",
                                       h.getNode()));
    } else {
      t_.connector_node = h.getNode();
      memcpy(t_.connector_nonce.data(), nonce.begin(), kNonceBytes);
    }
  } catch (const kj::Exception&) {
    s = kMalformed;
  }
  capnp::MallocMessageBuilder mb;
  auto c = mb.initRoot<peer::AuthChallenge>();
  c.setVersion(peer::PROTOCOL_VERSION);
  c.setNode(t_.listener_node);
  if (s.ok()) {
    c.setNonce(bytes(t_.listener_nonce.data(), kNonceBytes));
    Proof mine = compute_proof(config_.secret, AuthRole::Listener, t_);
    c.setProof(bytes(mine.data(), kProofBytes));
  } else {
    c.setRefusal(s.message);
  }
  challenge_out = to_frame(mb);
  return s;
}

Status ListenerHandshake::on_proof(const void* data, size_t len, Frame& welcome_out) {
  try {
    FrameMessage msg(data, len);
    auto proof = msg.root<peer::AuthProof>().getProof();
    if (!proof_matches(config_.secret, AuthRole::Connector, t_, proof.begin(), proof.size()))
      return Status::failure(EACCES, "authentication failed");
  } catch (const kj::Exception&) {
    return kMalformed;
  }
  capnp::MallocMessageBuilder mb;
  mb.initRoot<peer::AuthWelcome>();
  welcome_out = to_frame(mb);
  return Status::success();
}

}  // namespace vproc::daemon
