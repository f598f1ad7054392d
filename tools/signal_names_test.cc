#include "signal_names.h"

#include <signal.h>

#include <catch2/catch.hpp>

using namespace vproc::tools;

TEST_CASE("signal names parse with or without SIG, in any case, and as numbers") {
  CHECK(parse_signal("TERM") == SIGTERM);
  CHECK(parse_signal("SIGKILL") == SIGKILL);
  CHECK(parse_signal("hup") == SIGHUP);
  CHECK(parse_signal("sigusr1") == SIGUSR1);
  CHECK(parse_signal("9") == 9);
  CHECK(parse_signal("0") == 0);
  CHECK(parse_signal("CLD") == SIGCHLD);
  CHECK(parse_signal("IOT") == SIGABRT);
  CHECK(parse_signal("POLL") == SIGIO);
  CHECK(parse_signal("RTMIN") == SIGRTMIN);
  CHECK(parse_signal("RTMIN+2") == SIGRTMIN + 2);
  CHECK(parse_signal("SIGRTMAX-1") == SIGRTMAX - 1);
  CHECK(parse_signal("RTMAX") == SIGRTMAX);
}

TEST_CASE("signal parsing rejects what names no signal") {
  for (const char* bad : {"", "SIG", "FOO", "65", "4194305", "-9", "9x", "RTMIN+", "RTMIN+99", "RTMAX-99",
                          "RTMIN-1", " TERM"})
    CHECK(parse_signal(bad) == -1);
}

TEST_CASE("signal numbers name back, realtime ones from the nearer end") {
  CHECK(signal_name(SIGTERM) == "TERM");
  CHECK(signal_name(SIGRTMIN) == "RTMIN");
  CHECK(signal_name(SIGRTMIN + 1) == "RTMIN+1");
  CHECK(signal_name(SIGRTMAX - 1) == "RTMAX-1");
  CHECK(signal_name(SIGRTMAX) == "RTMAX");
  CHECK(signal_name(0).empty());
  CHECK(signal_name(SIGRTMAX + 1).empty());
  for (int s = 1; s <= SIGRTMAX; ++s) {
    std::string n = signal_name(s);
    if (!n.empty()) CHECK(parse_signal(n) == s);
  }
}

TEST_CASE("kill -l lists every name, lines within 80 columns") {
  std::string list = signal_list();
  CHECK(list.find("HUP INT QUIT") == 0);
  CHECK(list.find("RTMIN+1") != std::string::npos);
  CHECK(list.back() == '\n');
  size_t start = 0;
  while (start < list.size()) {
    size_t nl = list.find('\n', start);
    CHECK(nl - start < 80);
    start = nl + 1;
  }
}

TEST_CASE("kill -l ARG translates numbers, exit statuses and names") {
  CHECK(signal_translate("9") == "KILL");
  CHECK(signal_translate("137") == "KILL");
  CHECK(signal_translate("KILL") == "9");
  CHECK(signal_translate("sigterm") == "15");
  CHECK(signal_translate("bogus").empty());
  CHECK(signal_translate("0").empty());
}
