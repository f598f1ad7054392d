// The end of a command's main(): its errors as "NAME: message" with their exit
// status, and a failed write of stdout reported (a full disk or a closed pipe
// must not look like success). Shared by `vproc` and `migrate`.
#pragma once

#include <functional>

namespace vproc::tools {

int run_tool_main(const char* name, const std::function<int()>& run);

}  // namespace vproc::tools
