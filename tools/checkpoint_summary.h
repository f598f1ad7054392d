// How `vproc checkpoint` reports a finished image: sizes in binary units and
// durations, on one line.
#pragma once

#include <cstdint>
#include <string>

#include "human_units.h"
#include "wire.h"

namespace vproc::tools {

using vproc::human_bytes;     // common/human_units.h
using vproc::human_duration;

// "checkpoint of vpid 4194305: /x.vpimg (1.0 GiB, 812 MiB of memory data),
// frozen 12.3 ms, written in 0.85 s"
std::string checkpoint_summary(const wire::CheckpointResult& r, const std::string& path);

}  // namespace vproc::tools
