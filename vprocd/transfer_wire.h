// The frames of an `image` connection (common/transfer.capnp) as plain values.
// Only transfer_wire.cc includes the generated header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vproc::daemon {

struct ImageOffer {
  uint64_t migration = 0;
  uint32_t vpid = 0;
  uint32_t source_node = 0;
  uint64_t bytes = 0;           // the sender fills this in from the file
  uint64_t head_page_hash = 0;  // likewise: XXH3-64 of the first kHeadPageBytes
  uint8_t stdio_mask = 0;       // bit N: fd N is forwarded to the home node
  uint32_t parent = 0;
  uint32_t uid = 0, gid = 0;
  uint32_t flags = 0;
};

struct ImageReceived {
  int32_t err = 0;
  std::string message;
  uint64_t bytes = 0;
};

// The part of the image the offer's hash covers (the image header's page).
inline constexpr size_t kHeadPageBytes = 4096;
// Frames of this connection are small; a bigger length prefix is a protocol error.
inline constexpr size_t kMaxTransferFrameBytes = 64 << 10;

// Standard-framed messages (segment table + segments), 8-byte words.
std::vector<uint64_t> encode_offer(const ImageOffer& offer);
std::vector<uint64_t> encode_received(const ImageReceived& r);
// False if the frame is malformed. `len` is the frame's byte length.
bool decode_offer(const void* frame, size_t len, ImageOffer& out);
bool decode_received(const void* frame, size_t len, ImageReceived& out);

}  // namespace vproc::daemon
