#include "program_env.h"

#include <algorithm>

#include <catch2/catch.hpp>

using namespace vproc::tools;

namespace {
std::vector<char*> envp(std::vector<std::string>& v) { return c_strings(v); }
bool has(const std::vector<std::string>& env, const std::string& entry) {
  return std::find(env.begin(), env.end(), entry) != env.end();
}
size_t count_prefix(const std::vector<std::string>& env, const std::string& prefix) {
  return size_t(std::count_if(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(prefix, 0) == 0; }));
}
}  // namespace

TEST_CASE("libvproc entries are removed from an LD_PRELOAD list, others kept") {
  CHECK(without_libvproc("") == "");
  CHECK(without_libvproc("/a/libvproc.so") == "");
  CHECK(without_libvproc("/x/libfoo.so /a/libvproc.so.0:libbar.so") == "/x/libfoo.so:libbar.so");
  CHECK(without_libvproc("libvproc.so.0.1.0  /y/libvprocx.so") == "/y/libvprocx.so");
  CHECK(without_libvproc("::/z/libz.so::") == "/z/libz.so");
}

TEST_CASE("the program's environment carries the library, socket and identity") {
  std::vector<std::string> in{"HOME=/root", "LD_PRELOAD=/x/libfoo.so /old/libvproc.so", "VPROC_SELF=1:2:3:4",
                              "VPROC_SOCKET=/old.sock", "PATH=/bin"};
  auto p = envp(in);
  auto out = program_environment(p.data(), "/b/lib/libvproc.so", "/t/vprocd.sock", "4194305:10:9:9");
  CHECK(has(out, "HOME=/root"));
  CHECK(has(out, "PATH=/bin"));
  CHECK(has(out, "LD_PRELOAD=/b/lib/libvproc.so:/x/libfoo.so"));
  CHECK(has(out, "VPROC_SOCKET=/t/vprocd.sock"));
  CHECK(has(out, "VPROC_SELF=4194305:10:9:9"));
  CHECK(count_prefix(out, "LD_PRELOAD=") == 1);
  CHECK(count_prefix(out, "VPROC_SELF=") == 1);
  CHECK(count_prefix(out, "VPROC_SOCKET=") == 1);
  CHECK(out.size() == 5);
}

TEST_CASE("the last LD_PRELOAD entry is the one extended, as ld.so reads the last") {
  std::vector<std::string> in{"LD_PRELOAD=/first.so", "LD_PRELOAD=/second.so"};
  auto p = envp(in);
  auto out = program_environment(p.data(), "/l/libvproc.so", "/s", "4194305:1:1:1");
  CHECK(has(out, "LD_PRELOAD=/l/libvproc.so:/second.so"));
  CHECK(count_prefix(out, "LD_PRELOAD=") == 1);
}

TEST_CASE("an empty environment still gets the three variables") {
  auto out = program_environment(nullptr, "/l/libvproc.so", "/s", "4194305:1:1:1");
  CHECK(out == std::vector<std::string>{"LD_PRELOAD=/l/libvproc.so", "VPROC_SOCKET=/s", "VPROC_SELF=4194305:1:1:1"});
}

TEST_CASE("a daemon's environment has no libvproc and no identity") {
  std::vector<std::string> in{"LD_PRELOAD=/a/libvproc.so", "VPROC_SELF=1:2:3:4", "VPROC_SOCKET=/s", "X=1"};
  auto p = envp(in);
  CHECK(daemon_environment(p.data()) == std::vector<std::string>{"VPROC_SOCKET=/s", "X=1"});
  std::vector<std::string> in2{"LD_PRELOAD=/a/libvproc.so:/b/libkeep.so"};
  auto p2 = envp(in2);
  CHECK(daemon_environment(p2.data()) == std::vector<std::string>{"LD_PRELOAD=/b/libkeep.so"});
}
