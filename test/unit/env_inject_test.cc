#include "env_inject.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

using namespace vproc::lib;

namespace {

struct Env {
  std::vector<std::string> text;
  std::vector<char*> ptrs;
  explicit Env(std::vector<std::string> t) : text(std::move(t)) {
    for (auto& s : text) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  char** envp() { return ptrs.data(); }
};

std::vector<std::string> build(const std::vector<std::string>& in, const InjectSpec& spec) {
  Env env(in);
  size_t need = injected_env_bytes(env.envp(), spec);
  std::vector<uint64_t> buf((need + 7) / 8);
  char** out = build_injected_env(env.envp(), spec, buf.data(), need);
  REQUIRE(out != nullptr);
  std::vector<std::string> res;
  for (char** p = out; *p; ++p) res.emplace_back(*p);
  // Everything written must lie inside the computed size.
  for (char** p = out; *p; ++p) {
    auto* base = reinterpret_cast<char*>(buf.data());
    bool inside = *p >= base && *p + std::string(*p).size() < base + need;
    bool borrowed = false;
    for (auto& s : env.text) borrowed |= (*p == s.data());
    CHECK((inside || borrowed));
  }
  return res;
}

}  // namespace

TEST_CASE("VPROC_SELF round-trips through format and parse") {
  SelfEnv s{4194305, 1234, 4194304 + 77, 99};
  char buf[kSelfEnvValueMax];
  size_t n = format_self_env(s, buf);
  CHECK(std::string(buf) == "4194305:1234:4194381:99");
  CHECK(n == std::string(buf).size());
  SelfEnv back;
  REQUIRE(parse_self_env(buf, back));
  CHECK(back.vpid == s.vpid);
  CHECK(back.real == s.real);
  CHECK(back.parent == s.parent);
  CHECK(back.parent_real == s.parent_real);

  CHECK_FALSE(back.guest);

  SelfEnv max{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, true};
  n = format_self_env(max, buf);
  CHECK(n + 1 == kSelfEnvValueMax);
  REQUIRE(parse_self_env(buf, back));
  CHECK(back.parent_real == 0xffffffffu);
  CHECK(back.guest);
}

TEST_CASE("VPROC_SELF of a guest carries a fifth field; its parent_real is 0") {
  // A migrated process that exec'd: its parent (here a real pid on the source
  // node) is not its kernel parent (the keeper).
  SelfEnv s{4194305, 40, 812, 0, true};
  char buf[kSelfEnvValueMax];
  format_self_env(s, buf);
  CHECK(std::string(buf) == "4194305:40:812:0:1");
  SelfEnv back;
  REQUIRE(parse_self_env(buf, back));
  CHECK(back.guest);
  CHECK(back.parent == 812);
  CHECK(back.parent_real == 0);
  REQUIRE(parse_self_env("4194305:40:812:0:0", back));
  CHECK_FALSE(back.guest);
}

TEST_CASE("VPROC_SELF parsing rejects malformed values") {
  SelfEnv out{1, 2, 3, 4};
  for (const char* bad : {"", "1:2:3", "1:2:3:4:5", "1::3:4", "a:2:3:4", "1:2:3:4x", " 1:2:3:4",
                          "1:2:3:-4", "4294967296:0:0:0", "99999999999:0:0:0", "1:2:3:4:",
                          "00000000001:2:3:4", "1:2:3:4:2", "1:2:3:4:1:", "1:2:3:4:1:1"}) {
    INFO(bad);
    CHECK_FALSE(parse_self_env(bad, out));
  }
  CHECK_FALSE(parse_self_env(nullptr, out));
  // A failed parse leaves the output alone.
  CHECK(out.vpid == 1);
  CHECK(out.parent_real == 4);
  REQUIRE(parse_self_env("0:0:0:0", out));
  CHECK(out.vpid == 0);
}

TEST_CASE("take_env_entry removes every entry of a name in place") {
  Env env({"A=1", "VPROC_SELF=5:6:7:8", "VPROC_SELFISH=x", "B=2", "VPROC_SELF=9:9:9:9", "VPROC_SELF"});
  const char* v = take_env_entry(env.envp(), "VPROC_SELF");
  REQUIRE(v != nullptr);
  CHECK(std::string(v) == "5:6:7:8");
  std::vector<std::string> left;
  for (char** p = env.envp(); *p; ++p) left.emplace_back(*p);
  CHECK(left == std::vector<std::string>{"A=1", "VPROC_SELFISH=x", "B=2", "VPROC_SELF"});
  CHECK(take_env_entry(env.envp(), "VPROC_SELF") == nullptr);
  CHECK(take_env_entry(nullptr, "X") == nullptr);
}

TEST_CASE("preload_list_has matches whole entries separated by ':' or ' '") {
  CHECK(preload_list_has("/a/libvproc.so", "/a/libvproc.so"));
  CHECK(preload_list_has("/x.so:/a/libvproc.so", "/a/libvproc.so"));
  CHECK(preload_list_has("/x.so /a/libvproc.so  /y.so", "/a/libvproc.so"));
  CHECK_FALSE(preload_list_has("/a/libvproc.so.0", "/a/libvproc.so"));
  CHECK_FALSE(preload_list_has("/b/a/libvproc.so", "/a/libvproc.so"));
  CHECK_FALSE(preload_list_has("", "/a/libvproc.so"));
  CHECK_FALSE(preload_list_has(nullptr, "/a/libvproc.so"));
  CHECK_FALSE(preload_list_has("/a/libvproc.so", ""));
}

TEST_CASE("injection adds LD_PRELOAD, VPROC_SOCKET and VPROC_SELF to a plain environment") {
  InjectSpec spec{"/opt/lib/libvproc.so", "/tmp/t/vprocd.sock", "4194306:0:4194305:100"};
  auto out = build({"PATH=/bin", "HOME=/root"}, spec);
  CHECK(out == std::vector<std::string>{"PATH=/bin", "HOME=/root", "LD_PRELOAD=/opt/lib/libvproc.so",
                                        "VPROC_SOCKET=/tmp/t/vprocd.sock",
                                        "VPROC_SELF=4194306:0:4194305:100"});
}

TEST_CASE("injection prepends the library to another LD_PRELOAD and keeps one that has it") {
  InjectSpec spec{"/l/libvproc.so", "/s.sock", "1:2:3:4"};
  auto out = build({"LD_PRELOAD=/other.so", "X=1"}, spec);
  CHECK(out == std::vector<std::string>{"X=1", "LD_PRELOAD=/l/libvproc.so:/other.so",
                                        "VPROC_SOCKET=/s.sock", "VPROC_SELF=1:2:3:4"});
  out = build({"LD_PRELOAD=/other.so /l/libvproc.so", "X=1"}, spec);
  CHECK(out[1] == "LD_PRELOAD=/other.so /l/libvproc.so");
  out = build({"LD_PRELOAD="}, spec);
  CHECK(out[0] == "LD_PRELOAD=/l/libvproc.so");
}

TEST_CASE("injection replaces stale identity entries and duplicate LD_PRELOADs") {
  InjectSpec spec{"/l/v.so", "/new.sock", "7:8:9:10"};
  // The loader honours the last LD_PRELOAD: that is the list that is extended.
  auto out = build({"VPROC_SELF=1:1:1:1", "LD_PRELOAD=/first.so", "VPROC_SOCKET=/old.sock", "A=b",
                    "LD_PRELOAD=/last.so", "VPROC_SELF=2:2:2:2", "NOEQUALS"},
                   spec);
  CHECK(out == std::vector<std::string>{"A=b", "NOEQUALS", "LD_PRELOAD=/l/v.so:/last.so",
                                        "VPROC_SOCKET=/new.sock", "VPROC_SELF=7:8:9:10"});
}

TEST_CASE("injection without an identity drops VPROC_SELF; null socket keeps the old one") {
  InjectSpec spec{"/l/v.so", nullptr, nullptr};
  auto out = build({"VPROC_SELF=1:1:1:1", "VPROC_SOCKET=/keep.sock"}, spec);
  CHECK(out == std::vector<std::string>{"VPROC_SOCKET=/keep.sock", "LD_PRELOAD=/l/v.so"});
}

TEST_CASE("injection into an empty or null environment") {
  InjectSpec spec{"/l/v.so", "/s", "1:0:2:3"};
  auto out = build({}, spec);
  CHECK(out == std::vector<std::string>{"LD_PRELOAD=/l/v.so", "VPROC_SOCKET=/s", "VPROC_SELF=1:0:2:3"});
  size_t need = injected_env_bytes(nullptr, spec);
  std::vector<uint64_t> buf((need + 7) / 8);
  char** envp = build_injected_env(nullptr, spec, buf.data(), need);
  REQUIRE(envp != nullptr);
  CHECK(std::string(envp[0]) == "LD_PRELOAD=/l/v.so");
  CHECK(envp[3] == nullptr);
}

TEST_CASE("injection refuses a buffer that is too small or misaligned") {
  InjectSpec spec{"/l/v.so", "/s", "1:0:2:3"};
  Env env({"A=1"});
  size_t need = injected_env_bytes(env.envp(), spec);
  std::vector<uint64_t> buf(need / 8 + 2);
  CHECK(build_injected_env(env.envp(), spec, buf.data(), need - 1) == nullptr);
  CHECK(build_injected_env(env.envp(), spec, reinterpret_cast<char*>(buf.data()) + 1, need) == nullptr);
  CHECK(build_injected_env(env.envp(), spec, nullptr, need) == nullptr);
  CHECK(build_injected_env(env.envp(), spec, buf.data(), need) != nullptr);
}
