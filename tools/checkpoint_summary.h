// How `vproc checkpoint` reports a finished image: sizes in binary units and
// durations, on one line.
#pragma once

#include <cstdint>
#include <string>

#include "wire.h"

namespace vproc::tools {

// "512 B", "4.0 KiB", "812 MiB", "1.0 GiB": three significant digits at most.
std::string human_bytes(uint64_t n);
// "0.04 ms", "12.3 ms", "0.85 s", "312 s".
std::string human_duration(uint64_t ns);
// "checkpoint of vpid 4194305: /x.vpimg (1.0 GiB, 812 MiB of memory data),
// frozen 12.3 ms, written in 0.85 s"
std::string checkpoint_summary(const wire::CheckpointResult& r, const std::string& path);

}  // namespace vproc::tools
