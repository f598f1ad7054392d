// Milliseconds of CLOCK_MONOTONIC, for deadlines in the daemon and the tools
// (libvproc has its own, async-signal-safe, on raw system calls).
#pragma once

#include <time.h>

#include <cstdint>

namespace vproc {

inline int64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace vproc
