#include "libvproc_lookup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tool_error.h"

#ifndef VPROC_INSTALL_LIBDIR
#error "VPROC_INSTALL_LIBDIR must be defined by the build (the installed library directory)"
#endif
#ifndef VPROC_RELATIVE_LIBDIR
#define VPROC_RELATIVE_LIBDIR "lib"
#endif

namespace vproc::tools {
namespace {

constexpr const char kLibName[] = "libvproc.so";

bool is_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string absolute(const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return p;
  return std::string(cwd) + "/" + p;
}

// <dir of /proc/self/exe>/.. ; "" if unknown.
std::string exe_prefix() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string exe(buf, size_t(n));
  size_t slash = exe.rfind('/');
  if (slash == std::string::npos) return {};
  std::string bindir = exe.substr(0, slash);
  slash = bindir.rfind('/');
  return slash == std::string::npos ? std::string() : bindir.substr(0, slash);
}

std::string checked(const std::string& path) {
  if (path.find_first_of(" :") != std::string::npos)
    throw ToolError(1, path + ": cannot be put in LD_PRELOAD (the path contains ' ' or ':'); "
                              "set VPROC_LIB to a copy of libvproc.so at a path without them");
  return path;
}

}  // namespace

std::string find_libvproc() {
  if (const char* env = getenv("VPROC_LIB"); env && *env) {
    std::string path = absolute(env);
    struct stat st;
    if (stat(path.c_str(), &st) != 0) throw ToolError(1, std::string("VPROC_LIB=") + env + ": " + strerror(errno));
    if (!S_ISREG(st.st_mode)) throw ToolError(1, std::string("VPROC_LIB=") + env + ": not a regular file");
    return checked(path);
  }
  std::vector<std::string> candidates;
  if (std::string prefix = exe_prefix(); !prefix.empty()) {
    candidates.push_back(prefix + "/lib/" + kLibName);
    candidates.push_back(prefix + "/" VPROC_RELATIVE_LIBDIR "/" + kLibName);
  }
  candidates.push_back(std::string(VPROC_INSTALL_LIBDIR "/") + kLibName);
  std::string looked;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const std::string& c = candidates[i];
    if (std::find(candidates.begin(), candidates.begin() + long(i), c) != candidates.begin() + long(i)) continue;
    if (is_file(c)) return checked(c);
    looked += (looked.empty() ? "" : ", ") + c;
  }
  throw ToolError(1, "cannot find libvproc.so (looked in " + looked + "); set VPROC_LIB");
}

}  // namespace vproc::tools
