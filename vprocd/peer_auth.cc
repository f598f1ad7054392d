#include "peer_auth.h"

#include <sodium.h>

#include <cstring>

namespace vproc::daemon {
namespace {

constexpr char kContext[] = "vproc-peer-1";

void put_u32(crypto_auth_hmacsha256_state& st, uint32_t v) {
  unsigned char b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  crypto_auth_hmacsha256_update(&st, b, sizeof b);
}

}  // namespace

Nonce random_nonce() {
  if (sodium_init() < 0) abort();  // cannot pick a random source: nothing is safe
  Nonce n;
  randombytes_buf(n.data(), n.size());
  return n;
}

Proof compute_proof(std::string_view secret, AuthRole prover, const AuthTranscript& t) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(kContext), sizeof kContext - 1);
  unsigned char role = static_cast<unsigned char>(prover);
  crypto_auth_hmacsha256_update(&st, &role, 1);
  crypto_auth_hmacsha256_update(&st, t.connector_nonce.data(), t.connector_nonce.size());
  crypto_auth_hmacsha256_update(&st, t.listener_nonce.data(), t.listener_nonce.size());
  put_u32(st, t.connector_node);
  put_u32(st, t.listener_node);
  Proof p;
  crypto_auth_hmacsha256_final(&st, p.data());
  sodium_memzero(&st, sizeof st);
  return p;
}

bool proof_matches(std::string_view secret, AuthRole prover, const AuthTranscript& t, const void* got, size_t len) {
  if (len != kProofBytes) return false;
  Proof want = compute_proof(secret, prover, t);
  return sodium_memcmp(want.data(), got, kProofBytes) == 0;
}

}  // namespace vproc::daemon
