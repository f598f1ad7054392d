// vprocd's /proc readers.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "proc_stat.h"

using namespace vproc;
using namespace vproc::daemon;

TEST_CASE("proc stat: fields after a comm that holds parentheses and spaces", "[proc_stat]") {
  std::string text =
      "4242 (evil) S 1 2 (x) ) R 77 88 99 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 123456 1000 200 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  ProcStat st;
  REQUIRE(parse_proc_stat(text.data(), text.size(), st));
  CHECK(st.state == 'R');
  CHECK(st.ppid == 77);
  CHECK(st.pgrp == 88);
  CHECK(st.session == 99);
  CHECK(st.start_ticks == 123456);

  std::string cut = "12 (x) S 1 2 3 4";
  CHECK_FALSE(parse_proc_stat(cut.data(), cut.size(), st));
  std::string none = "no parenthesis here";
  CHECK_FALSE(parse_proc_stat(none.data(), none.size(), st));
}

TEST_CASE("proc stat: this process, its uids and its command line", "[proc_stat]") {
  RealPid me{uint32_t(getpid())};
  ProcStat st;
  REQUIRE(read_proc_stat(me, st));
  CHECK(st.ppid == uint32_t(getppid()));
  CHECK(st.pgrp == getpgrp());
  CHECK(st.start_ticks > 0);
  CHECK(process_matches(me, st.start_ticks));
  CHECK_FALSE(process_matches(me, st.start_ticks + 1));
  ProcStat task;
  REQUIRE(read_task_stat(me, me, task));
  CHECK(task.start_ticks == st.start_ticks);

  ProcUids u;
  REQUIRE(read_proc_uids(me, u));
  CHECK(u.real == getuid());
  CHECK(u.effective == geteuid());

  std::vector<std::string> argv;
  REQUIRE(read_cmdline(me, argv));
  REQUIRE_FALSE(argv.empty());
  CHECK(argv[0].find("test") != std::string::npos);

  CHECK_FALSE(read_proc_stat(RealPid{0}, st));
  CHECK_FALSE(read_proc_stat(RealPid{kRealPidLimit}, st));
}

TEST_CASE("proc stat: the Uid line, state words and start times", "[proc_stat]") {
  std::string status = "Name:\tx\nState:\tS (sleeping)\nUid:\t1000\t0\t1001\t0\nGid:\t5\t5\t5\t5\n";
  ProcUids u;
  REQUIRE(parse_uid_line(status.data(), status.size(), u));
  CHECK(u.real == 1000);
  CHECK(u.effective == 0);
  CHECK(u.saved == 1001);
  CHECK(u.fs == 0);
  std::string bad = "Name:\tx\nUid:\t1000\n";
  CHECK_FALSE(parse_uid_line(bad.data(), bad.size(), u));

  CHECK(std::string(state_word('R')) == "running");
  CHECK(std::string(state_word('S')) == "sleeping");
  CHECK(std::string(state_word('D')) == "disk-wait");
  CHECK(std::string(state_word('T')) == "stopped");
  CHECK(std::string(state_word('t')) == "traced");
  CHECK(std::string(state_word('Z')) == "zombie");
  CHECK(std::string(state_word('I')) == "idle");
  CHECK(std::string(state_word('?')) == "unknown");

  uint64_t boot = boot_time_ms();
  CHECK(boot > 1500000000000ull);
  long hz = sysconf(_SC_CLK_TCK);
  CHECK(start_time_ms(boot, uint64_t(hz) * 3) == boot + 3000);
}
