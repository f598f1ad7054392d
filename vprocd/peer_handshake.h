// The peer handshake as two message-level state machines, without I/O: the
// event loop (peer_link.h) and the blocking forms (peer_connect.h) drive the
// same code.
//
//   connector                         listener
//   hello()          --AuthHello-->   on_hello()      (checks version, digest, node)
//   on_challenge()   <-AuthChallenge- (its nonce and proof, or a refusal)
//   (checks the listener's proof)
//                    --AuthProof-->   on_proof()      (checks the connector's proof)
//                    --Open-------->  (the caller reads it)
//   on_welcome()     <-AuthWelcome-
//
// Malformed messages are errors (EPROTO), never exceptions.
#pragma once

#include <cstdint>
#include <string>

#include "cluster_config.h"
#include "peer_auth.h"
#include "peer_frames.h"
#include "status.h"

namespace vproc::daemon {

// Largest frame either side sends before the handshake is complete.
inline constexpr size_t kMaxHandshakeFrameBytes = 4096;

class ConnectorHandshake {
 public:
  ConnectorHandshake(const ClusterConfig& config, uint32_t self, uint32_t target);
  Frame hello();
  // Errors: the listener refused (its reason), is not `target`, or failed
  // its proof (EACCES: the secrets differ).
  Status on_challenge(const void* data, size_t len, Frame& proof_out);
  Status on_welcome(const void* data, size_t len);

 private:
  const ClusterConfig& config_;
  AuthTranscript t_;
};

class ListenerHandshake {
 public:
  ListenerHandshake(const ClusterConfig& config, uint32_t self);
  // Always fills `challenge_out`: on an error it carries the refusal, which
  // the caller may send before closing.
  Status on_hello(const void* data, size_t len, Frame& challenge_out);
  // EACCES: the connector does not know the secret.
  Status on_proof(const void* data, size_t len, Frame& welcome_out);
  // The connector's node index (valid after on_hello succeeded).
  uint32_t peer_node() const { return t_.connector_node; }

 private:
  const ClusterConfig& config_;
  AuthTranscript t_;
};

}  // namespace vproc::daemon
