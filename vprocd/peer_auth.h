// The proofs of the peer handshake (docs/cluster.md, "Peer transport").
//
// Both sides send a fresh random nonce; each proves it knows the cluster's
// shared secret with
//   HMAC-SHA-256(secret, "vproc-peer-1" | role | connector nonce | listener nonce
//                        | connector node | listener node)
// The role byte differs for the two proofs, so one side's proof can never be
// replayed as the other's, and the fresh nonces keep an old proof from being
// replayed on a new connection. The nodes bind the proof to who claims to be
// whom. (Authentication only: the traffic itself is not encrypted.)
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vproc::daemon {

inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kProofBytes = 32;
using Nonce = std::array<uint8_t, kNonceBytes>;
using Proof = std::array<uint8_t, kProofBytes>;

enum class AuthRole : uint8_t { Connector = 'C', Listener = 'L' };

// Both sides' view of one handshake.
struct AuthTranscript {
  Nonce connector_nonce{}, listener_nonce{};
  uint32_t connector_node = 0, listener_node = 0;
};

// A fresh random nonce (libsodium's randombytes_buf).
Nonce random_nonce();

// The proof `prover` must give for `t`.
Proof compute_proof(std::string_view secret, AuthRole prover, const AuthTranscript& t);

// Whether `got` (len bytes, as received) is the proof `prover` must give, in
// constant time (sodium_memcmp).
bool proof_matches(std::string_view secret, AuthRole prover, const AuthTranscript& t, const void* got, size_t len);

}  // namespace vproc::daemon
