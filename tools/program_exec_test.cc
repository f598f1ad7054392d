#include "program_exec.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

#include "tool_error.h"

using namespace vproc::tools;

namespace {

// A temporary directory tree: bin1/tool (not executable), bin2/tool
// (executable), bin1/sub (a directory), script (executable), plain (not).
struct Tree {
  std::string root;
  Tree() {
    char tmpl[] = "/tmp/vproc-program-exec-XXXXXX";
    root = mkdtemp(tmpl);
    mkdir((root + "/bin1").c_str(), 0755);
    mkdir((root + "/bin2").c_str(), 0755);
    mkdir((root + "/bin1/sub").c_str(), 0755);
    mkdir((root + "/bin2/sub").c_str(), 0755);
    file("/bin1/tool", 0644);
    file("/bin2/tool", 0755);
    file("/bin2/sub/x", 0755);
    file("/script", 0755);
    file("/plain", 0644);
  }
  ~Tree() { std::system(("rm -rf '" + root + "'").c_str()); }
  void file(const std::string& rel, mode_t mode) {
    int fd = open((root + rel).c_str(), O_CREAT | O_WRONLY | O_TRUNC, mode);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "#!/bin/sh\n", 10) == 10);
    close(fd);
    chmod((root + rel).c_str(), mode);
  }
};

// Sets $PATH for one test and puts the old value back.
struct ScopedPath {
  std::string old;
  bool had;
  explicit ScopedPath(const std::string& v) {
    const char* o = getenv("PATH");
    had = o != nullptr;
    if (had) old = o;
    setenv("PATH", v.c_str(), 1);
  }
  ~ScopedPath() {
    if (had) setenv("PATH", old.c_str(), 1);
    else unsetenv("PATH");
  }
};

void check_error(const std::string& name, int status, const std::string& message) {
  try {
    resolve_program(name);
    FAIL("no error for " << name);
  } catch (const ToolError& e) {
    CHECK(e.status() == status);
    CHECK(std::string(e.what()) == message);
  }
}

}  // namespace

TEST_CASE("PATH search prefers an executable file, skipping directories") {
  Tree t;
  CHECK(search_path("tool", (t.root + "/bin1:" + t.root + "/bin2").c_str()) == t.root + "/bin2/tool");
  CHECK(search_path("sub", (t.root + "/bin1:" + t.root + "/bin2").c_str()).empty());
  CHECK(search_path("missing", (t.root + "/bin1").c_str()).empty());
}

TEST_CASE("PATH search falls back to the first non-executable file, as bash does") {
  Tree t;
  CHECK(search_path("tool", (t.root + "/bin1").c_str()) == t.root + "/bin1/tool");
}

TEST_CASE("an empty PATH entry means the current directory") {
  Tree t;
  char old[4096];
  REQUIRE(getcwd(old, sizeof old));
  REQUIRE(chdir(t.root.c_str()) == 0);
  CHECK(search_path("script", ("/nonexistent::" + t.root + "/bin1").c_str()) == "./script");
  CHECK(search_path("script", "/nonexistent:").c_str() == std::string("./script"));
  REQUIRE(chdir(old) == 0);
}

TEST_CASE("resolve_program finds names in PATH and takes paths as they are") {
  Tree t;
  ScopedPath p(t.root + "/bin1:" + t.root + "/bin2");
  CHECK(resolve_program("tool") == t.root + "/bin2/tool");
  CHECK(resolve_program(t.root + "/script") == t.root + "/script");
}

TEST_CASE("resolve_program fails like bash: statuses 127 and 126 with bash's messages") {
  Tree t;
  ScopedPath p(t.root + "/bin1");
  check_error("nosuchcommand", 127, "nosuchcommand: command not found");
  check_error("", 127, ": command not found");
  check_error("sub", 127, "sub: command not found");
  check_error("tool", 126, t.root + "/bin1/tool: Permission denied");
  check_error(t.root + "/missing", 127, t.root + "/missing: No such file or directory");
  check_error(t.root + "/bin1", 126, t.root + "/bin1: Is a directory");
  check_error(t.root + "/plain", 126, t.root + "/plain: Permission denied");
  check_error(t.root + "/plain/x", 126, t.root + "/plain/x: Not a directory");
}
