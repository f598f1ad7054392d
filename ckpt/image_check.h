// The decoded model's own consistency: what the restorer and read_memory rely
// on (sorted non-overlapping vmas, chunks page-aligned, inside the data area
// and inside vmas, every index in range) holds, or the image is refused.
#pragma once

#include <cstdint>
#include <string>

#include "image_model.h"

namespace vproc::image {

// Highest user-space address with 5-level paging (57-bit): nothing in an
// image lies above it, so no end computed from a start can overflow.
inline constexpr uint64_t kUserAddressEnd = 1ull << 57;

// Checks IMG (header included; the header itself was validated already)
// against itself; throws ImageError "WHO: ..." naming the first problem.
void check_model(const std::string& who, const Image& img);

// "0x7f12abc000": addresses in messages.
std::string hex(uint64_t v);

}  // namespace vproc::image
