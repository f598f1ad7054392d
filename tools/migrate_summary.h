// How `vproc migrate` reports a finished migration, on one line:
//   "vpid 4194305: alpha → beta, 1.0 GiB, frozen 0.81 s, total 1.40 s"
#pragma once

#include <cstdint>
#include <string>

#include "wire.h"

namespace vproc::tools {

std::string migrate_summary(uint32_t vpid, const wire::MigrateDone& done);

}  // namespace vproc::tools
