// Sizes and durations as people read them, for messages of the tools and of
// the daemon (a migration's errors travel back to the user).
#pragma once

#include <cstdint>
#include <string>

namespace vproc {

// "512 B", "4.0 KiB", "812 MiB", "1.0 GiB": three significant digits at most.
std::string human_bytes(uint64_t n);
// "0.04 ms", "12.3 ms", "0.85 s", "312 s".
std::string human_duration(uint64_t ns);

}  // namespace vproc
