#include "libvproc_lookup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

#include "tool_error.h"

using namespace vproc::tools;

namespace {

// Sets $VPROC_LIB for one test and puts the old value back.
struct ScopedLibEnv {
  std::string old;
  bool had;
  explicit ScopedLibEnv(const std::string& v) {
    const char* o = getenv("VPROC_LIB");
    had = o != nullptr;
    if (had) old = o;
    setenv("VPROC_LIB", v.c_str(), 1);
  }
  ~ScopedLibEnv() {
    if (had) setenv("VPROC_LIB", old.c_str(), 1);
    else unsetenv("VPROC_LIB");
  }
};

std::string error_of(const std::string& lib) {
  ScopedLibEnv env(lib);
  try {
    find_libvproc();
  } catch (const ToolError& e) {
    CHECK(e.status() == 1);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("VPROC_LIB names the library; a missing one is an error, not a fallback") {
  CHECK(error_of("/nonexistent/libvproc.so") == "VPROC_LIB=/nonexistent/libvproc.so: No such file or directory");
  CHECK(error_of("/tmp") == "VPROC_LIB=/tmp: not a regular file");
}

TEST_CASE("VPROC_LIB may be relative; the result is absolute") {
  char dir[] = "/tmp/vproc-lib-lookup-XXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string lib = std::string(dir) + "/libvproc.so";
  close(open(lib.c_str(), O_CREAT | O_WRONLY, 0644));
  char old[4096];
  REQUIRE(getcwd(old, sizeof old));
  REQUIRE(chdir(dir) == 0);
  {
    ScopedLibEnv env("libvproc.so");
    CHECK(find_libvproc() == lib);
  }
  REQUIRE(chdir(old) == 0);
  unlink(lib.c_str());
  rmdir(dir);
}

TEST_CASE("a library path that LD_PRELOAD would split is refused") {
  char dir[] = "/tmp/vproc lib XXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string lib = std::string(dir) + "/libvproc.so";
  close(open(lib.c_str(), O_CREAT | O_WRONLY, 0644));
  std::string err = error_of(lib);
  CHECK(err.find("cannot be put in LD_PRELOAD") != std::string::npos);
  unlink(lib.c_str());
  rmdir(dir);
}
