// A VPID argument of a command: a number in the virtual range, else a usage
// error that says what vproc's PIDs look like.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>

#include "cli_context.h"
#include "tool_error.h"
#include "vpid_space.h"

namespace vproc::tools {

inline uint32_t parse_vpid_arg(const std::string& text) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || !valid_vpid(v))
    throw ToolError(kExitUsage, "'" + text + "' is not a virtual PID (vproc's PIDs are " +
                                    std::to_string(kRealPidLimit) + " and above)");
  return v;
}

}  // namespace vproc::tools
