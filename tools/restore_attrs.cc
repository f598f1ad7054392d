#include "restore_attrs.h"

#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "cli_context.h"
#include "tool_error.h"

namespace vproc::tools {
namespace {

const char* rlimit_name(size_t r) {
  static const char* const names[] = {"RLIMIT_CPU",    "RLIMIT_FSIZE",  "RLIMIT_DATA",       "RLIMIT_STACK",
                                      "RLIMIT_CORE",   "RLIMIT_RSS",    "RLIMIT_NPROC",      "RLIMIT_NOFILE",
                                      "RLIMIT_MEMLOCK", "RLIMIT_AS",    "RLIMIT_LOCKS",      "RLIMIT_SIGPENDING",
                                      "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO",     "RLIMIT_RTTIME"};
  return r < sizeof names / sizeof names[0] ? names[r] : "an unknown limit";
}

std::string limit_text(rlim_t v) { return v == RLIM_INFINITY ? "unlimited" : std::to_string(v); }

void restore_rlimit(size_t r, const image::Rlimit& want) {
  struct rlimit now;
  if (getrlimit(int(r), &now) != 0) return;  // a limit this kernel does not know
  struct rlimit set = {rlim_t(want.cur), rlim_t(want.max)};
  if (set.rlim_max > now.rlim_max) {
    fprintf(stderr, "vproc restore: warning: cannot raise the hard %s to %s (it is %s here)\n", rlimit_name(r),
            limit_text(set.rlim_max).c_str(), limit_text(now.rlim_max).c_str());
    set.rlim_max = now.rlim_max;
    if (set.rlim_cur > set.rlim_max) set.rlim_cur = set.rlim_max;
  }
  if (set.rlim_cur == now.rlim_cur && set.rlim_max == now.rlim_max) return;
  if (setrlimit(int(r), &set) != 0)
    fprintf(stderr, "vproc restore: warning: cannot set %s to %s/%s: %s\n", rlimit_name(r),
            limit_text(set.rlim_cur).c_str(), limit_text(set.rlim_max).c_str(), strerror(errno));
}

}  // namespace

void restore_cwd(const image::ProcessInfo& p) {
  if (p.cwd.empty()) return;
  if (chdir(p.cwd.c_str()) != 0)
    throw ToolError(kExitFailed, "cannot enter the checkpointed working directory " + p.cwd + ": " + strerror(errno));
}

void restore_limits_and_mode(const image::ProcessInfo& p) {
  umask(mode_t(p.umask & 0777));
  for (size_t r = 0; r < p.rlimits.size(); ++r) restore_rlimit(r, p.rlimits[r]);
  // Affects the restorer's own exec too (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC).
  if (personality(0xffffffff) != int(p.personality) && personality(p.personality) < 0)
    fprintf(stderr, "vproc restore: warning: cannot set the personality %#x: %s\n", p.personality, strerror(errno));
}

}  // namespace vproc::tools
