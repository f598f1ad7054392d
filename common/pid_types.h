// Distinct types for the two PID spaces vproc deals with.
//
// A RealPid is a number the kernel of *this* host understands (a pid or tid in
// our PID namespace). The kernel never hands out a PID >= PID_MAX_LIMIT (2^22),
// so every RealPid is below kRealPidLimit.
//
// A VPid is a cluster-wide virtual PID. It is always >= kRealPidLimit, so the two
// ranges never overlap: a VPid can never be mistaken by the kernel for a real
// process, and a number below 2^22 that reaches a wrapper is known to be real.
#pragma once

#include <compare>
#include <cstdint>

namespace vproc {

inline constexpr uint32_t kRealPidLimit = 1u << 22;  // PID_MAX_LIMIT on 64-bit Linux

template <typename Tag>
struct PidValue {
  uint32_t value = 0;

  constexpr PidValue() = default;
  constexpr explicit PidValue(uint32_t v) : value(v) {}
  constexpr explicit operator bool() const { return value != 0; }
  constexpr bool operator==(const PidValue&) const = default;
  constexpr auto operator<=>(const PidValue&) const = default;
};

struct RealPidTag {};
struct VPidTag {};
using RealPid = PidValue<RealPidTag>;
using VPid = PidValue<VPidTag>;

// True when a pid_t argument names the virtual space (and so must be translated).
constexpr bool is_virtual_number(int64_t pid) { return pid >= int64_t{kRealPidLimit}; }

}  // namespace vproc
