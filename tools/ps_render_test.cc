#include "ps_render.h"

#include <cstdlib>

#include <catch2/catch.hpp>

using namespace vproc::tools;
using vproc::wire::ProcessEntry;

namespace {

// Local time is UTC for these tests, so the expected texts are fixed.
struct UtcZone {
  UtcZone() {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

ProcessEntry entry(uint32_t vpid, uint32_t real, uint32_t parent, std::vector<std::string> argv) {
  ProcessEntry e;
  e.vpid = vpid;
  e.real = real;
  e.parent = parent;
  e.node_name = "n0";
  e.state = "sleeping";
  e.uid = 0;
  e.tgid = vpid;
  e.start_time_ms = 1700000000000;  // 2023-11-14 22:13:20 UTC
  e.argv = std::move(argv);
  return e;
}

}  // namespace

TEST_CASE("START is HH:MM:SS on the same day, else MonDD") {
  UtcZone utc;
  time_t same_day = 1700000000 + 3600;
  CHECK(format_start_time(1700000000000, same_day) == "22:13:20");
  CHECK(format_start_time(1700000000999, same_day) == "22:13:20");
  CHECK(format_start_time(1700000000000, 1700000000 + 86400) == "Nov14");
}

TEST_CASE("CMD joins argv, hides control characters, marks zombies") {
  ProcessEntry e = entry(4194305, 10, 1, {"sleep", "10"});
  CHECK(command_text(e) == "sleep 10");
  e.argv = {"a\nb", "c\td"};
  CHECK(command_text(e) == "a?b c?d");
  e.argv = {};
  CHECK(command_text(e) == "-");
  e.argv = {"x"};
  e.state = "zombie";
  CHECK(command_text(e) == "x <defunct>");
}

TEST_CASE("the table has ps's columns, numbers right-aligned") {
  UtcZone utc;
  std::vector<ProcessEntry> v{entry(4194305, 812, 700, {"bash"}), entry(4194306, 31337, 4194305, {"sleep", "5"})};
  TableOptions opt;
  opt.now = 1700000000;
  opt.user_name = [](uint32_t uid) { return uid == 0 ? std::string("root") : std::to_string(uid); };
  CHECK(render_table(v, opt) ==
        "   VPID NODE   PID    PPID STATE    UID  START    CMD\n"
        "4194305 n0     812     700 sleeping root 22:13:20 bash\n"
        "4194306 n0   31337 4194305 sleeping root 22:13:20 sleep 5\n");
}

TEST_CASE("with threads the table has TGID and each thread follows its process") {
  UtcZone utc;
  ProcessEntry p1 = entry(4194305, 812, 700, {"a"});
  ProcessEntry t1 = entry(4194309, 815, 700, {"a"});
  t1.thread = true;
  t1.tgid = 4194305;
  ProcessEntry p2 = entry(4194307, 900, 4194305, {"b"});
  std::vector<ProcessEntry> v{p2, t1, p1};
  sort_for_display(v);
  REQUIRE(v.size() == 3);
  CHECK(v[0].vpid == 4194305);
  CHECK(v[1].vpid == 4194309);
  CHECK(v[2].vpid == 4194307);
  TableOptions opt;
  opt.threads = true;
  opt.now = 1700000000;
  std::string out = render_table(v, opt);
  CHECK(out.rfind("   VPID    TGID NODE", 0) == 0);
  CHECK(out.find("4194309 4194305 n0") != std::string::npos);
}

TEST_CASE("an empty list is a header only, or an empty JSON array") {
  TableOptions opt;
  CHECK(render_table({}, opt) == "VPID NODE PID PPID STATE UID START CMD\n");
  CHECK(render_json({}) == "[]\n");
}

TEST_CASE("JSON has every field, escaped") {
  ProcessEntry e = entry(4194305, 812, 700, {"say", "\"hi\"\n"});
  e.uid = 1000;
  std::string j = render_json({e});
  CHECK(j ==
        "[\n  {\"vpid\":4194305,\"node\":\"n0\",\"node_index\":0,\"pid\":812,\"ppid\":700,"
        "\"state\":\"sleeping\",\"uid\":1000,\"start_time_ms\":1700000000000,"
        "\"argv\":[\"say\",\"\\\"hi\\\"\\n\"],\"thread\":false,\"tgid\":4194305}\n]\n");
}
