// Facts about this node and this daemon, fixed at startup.
#pragma once

#include <cstdint>
#include <string>

namespace vproc::daemon {

struct NodeInfo {
  uint32_t index = 0;
  std::string name;
  uint32_t daemon_pid = 0;
  uint64_t boot_time_ms = 0;  // wall clock at boot, for process start times
};

}  // namespace vproc::daemon
