// xxHash from the system's header, compiled into the library (no libxxhash.so
// dependency in every process): XXH3 is pure computation, safe anywhere.
#define XXH_INLINE_ALL
#include <cerrno>
#include <xxhash.h>

#include "ckpt_records.h"

namespace vproc::lib {

uint64_t hash_bytes(const void* p, size_t len) { return XXH3_64bits(p, len); }

static_assert(sizeof(XXH3_state_t) <= 640 && alignof(XXH3_state_t) <= 64);

HashStream::HashStream() { XXH3_64bits_reset(reinterpret_cast<XXH3_state_t*>(state_)); }
void HashStream::update(const void* p, size_t len) {
  XXH3_64bits_update(reinterpret_cast<XXH3_state_t*>(state_), p, len);
}
uint64_t HashStream::digest() { return XXH3_64bits_digest(reinterpret_cast<XXH3_state_t*>(state_)); }

}  // namespace vproc::lib
