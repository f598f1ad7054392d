#include "migrate_summary.h"

#include "human_units.h"

namespace vproc::tools {

std::string migrate_summary(uint32_t vpid, const wire::MigrateDone& d) {
  return "vpid " + std::to_string(vpid) + ": " + d.from.s + " \u2192 " + d.to.s + ", " + human_bytes(d.image_bytes) +
         ", frozen " + human_duration(d.frozen_ns) + ", total " + human_duration(d.total_ns);
}

}  // namespace vproc::tools
