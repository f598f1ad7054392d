// How a VPid encodes its home node.
//
//   vpid = ((node_index + 1) << 22) | serial        serial in [1, 2^22)
//
// node_index 0..510 keeps every vpid positive in a 32-bit pid_t (node 0 gives
// 4194305.., node 510 ends at 2^31-1), and every vpid >= 2^22 > any real PID.
// Serial 0 is never used, so a vpid is never a multiple of 2^22.
#pragma once

#include "pid_types.h"

namespace vproc {

inline constexpr uint32_t kSerialBits = 22;
inline constexpr uint32_t kSerialLimit = 1u << kSerialBits;  // serials are 1 .. kSerialLimit-1
inline constexpr uint32_t kMaxNodes = 511;

constexpr bool valid_node_index(uint32_t node) { return node < kMaxNodes; }

constexpr VPid make_vpid(uint32_t node_index, uint32_t serial) {
  return VPid{((node_index + 1) << kSerialBits) | serial};
}

constexpr uint32_t home_node_of(VPid v) { return (v.value >> kSerialBits) - 1; }
constexpr uint32_t serial_of(VPid v) { return v.value & (kSerialLimit - 1); }

// A well-formed vpid: in the virtual range, a real node, a non-zero serial.
constexpr bool valid_vpid(int64_t v) {
  if (v < int64_t{kRealPidLimit} || v > 0x7fffffff) return false;
  uint32_t u = static_cast<uint32_t>(v);
  return valid_node_index((u >> kSerialBits) - 1) && (u & (kSerialLimit - 1)) != 0;
}

static_assert(make_vpid(0, 1).value == 4194305);
static_assert(make_vpid(kMaxNodes - 1, kSerialLimit - 1).value == 0x7fffffff);
static_assert(home_node_of(make_vpid(7, 42)) == 7 && serial_of(make_vpid(7, 42)) == 42);

}  // namespace vproc
