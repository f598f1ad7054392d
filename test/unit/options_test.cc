// vprocd's command line.
#include <catch2/catch.hpp>
#include <vector>

#include "options.h"

using namespace vproc::daemon;

namespace {
Status parse(std::vector<const char*> args, Options& o) {
  args.insert(args.begin(), "vprocd");
  return parse_options(int(args.size()), const_cast<char**>(args.data()), o);
}
}  // namespace

TEST_CASE("options: every option, both spellings", "[options]") {
  Options o;
  REQUIRE(parse({"--socket", "/tmp/a.sock", "--node=n1", "--node-index", "510", "--foreground", "--idle-exit=30",
                 "--log", "/tmp/l", "--pidfile=/tmp/p", "--verbose"},
                o)
              .ok());
  CHECK(o.socket_path == "/tmp/a.sock");
  CHECK(o.node_name == "n1");
  REQUIRE(o.node_index);
  CHECK(*o.node_index == 510);
  CHECK(o.foreground);
  CHECK(o.idle_exit_secs == 30);
  CHECK(o.log_path == "/tmp/l");
  CHECK(o.pidfile == "/tmp/p");
  CHECK(o.verbose);
  REQUIRE(parse({"--help"}, o).ok());
  CHECK(o.help);
  REQUIRE(parse({"--version"}, o).ok());
  CHECK(o.version);
  REQUIRE(parse({}, o).ok());
  CHECK_FALSE(o.node_index);
  CHECK_FALSE(o.foreground);
}

TEST_CASE("options: bad input gets a clear message", "[options]") {
  Options o;
  Status s = parse({"--node-index", "511"}, o);
  CHECK(s.err == EINVAL);
  CHECK(s.message == "--node-index: '511' is not a number in 0..510");
  CHECK(parse({"--node-index", "-1"}, o).err == EINVAL);
  CHECK(parse({"--node-index", "7x"}, o).err == EINVAL);
  CHECK(parse({"--idle-exit", "0"}, o).err == EINVAL);
  CHECK(parse({"--idle-exit", "abc"}, o).err == EINVAL);
  CHECK(parse({"--socket"}, o).message == "option '--socket' needs a value");
  CHECK(parse({"--foreground=yes"}, o).message == "option '--foreground' takes no value");
  CHECK(parse({"--bogus"}, o).message == "unknown option '--bogus'");
  CHECK(parse({"stray"}, o).message == "unexpected argument 'stray'");
  CHECK(parse({"--node", "has space"}, o).err == EINVAL);
  CHECK(parse({"--node", std::string(64, 'n').c_str()}, o).err == EINVAL);
}

TEST_CASE("options: defaults and absolute paths", "[options]") {
  Options o;
  REQUIRE(parse({"--socket", "rel/vprocd.sock", "--log", "x.log"}, o).ok());
  REQUIRE(complete_options(o).ok());
  CHECK(o.socket_path[0] == '/');
  CHECK(o.socket_path.size() > std::string("/rel/vprocd.sock").size());
  CHECK(o.log_path[0] == '/');
  CHECK_FALSE(o.node_name.empty());

  REQUIRE(parse({"--socket", ("/tmp/" + std::string(120, 's')).c_str()}, o).ok());
  Status s = complete_options(o);
  CHECK(s.err == ENAMETOOLONG);
}
