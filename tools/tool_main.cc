#include "tool_main.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "cli_context.h"
#include "tool_error.h"

namespace vproc::tools {

int run_tool_main(const char* name, const std::function<int()>& run) {
  int status;
  try {
    status = run();
  } catch (const DaemonError& e) {
    fprintf(stderr, "%s: %s\n", name, e.what());
    status = kExitUsage;
  } catch (const ToolError& e) {
    fprintf(stderr, "%s: %s\n", name, e.what());
    status = e.status();
  } catch (const std::exception& e) {
    fprintf(stderr, "%s: %s\n", name, e.what());
    status = kExitUsage;
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "%s: write error: %s\n", name, strerror(errno));
    if (status == 0) status = kExitFailed;
  }
  return status;
}

}  // namespace vproc::tools
