#include "checkpoint_summary.h"

namespace vproc::tools {

std::string checkpoint_summary(const wire::CheckpointResult& r, const std::string& path) {
  return "checkpoint of vpid " + std::to_string(r.vpid) + ": " + path + " (" + human_bytes(r.image_bytes) + ", " +
         human_bytes(r.data_bytes) + " of memory data), frozen " + human_duration(r.frozen_ns) + ", written in " +
         human_duration(r.write_ns);
}

}  // namespace vproc::tools
