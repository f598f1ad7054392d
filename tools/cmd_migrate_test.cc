// `vproc migrate` against a scripted stand-in for the daemon: what it asks,
// what it prints, how it fails.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>

#include "fake_daemon_test.h"
#include "subcommand.h"
#include "tool_error.h"

using namespace vproc;
using namespace vproc::tools;

namespace {

// A stand-in daemon that reads one request, keeps it in `seen` and answers
// what `answer` makes of it.
struct ScriptedDaemon {
  wire::Request seen;
  test::FakeDaemon daemon;
  std::string& path = daemon.path;

  explicit ScriptedDaemon(std::function<wire::Reply(const wire::Request&)> answer)
      : daemon([this, answer](int c) {
          alignas(8) char buf[wire::kLargeFrameBytes];
          size_t have = 0, want = 8;
          while (have < want) {
            ssize_t n = read(c, buf + have, want - have);
            if (n <= 0) break;
            have += size_t(n);
            if (have == want && want == 8) want = wire::frame_size(buf, have);
          }
          if (have == want && wire::decode(buf, have, seen)) {
            size_t n = wire::encode(answer(seen), buf, sizeof buf);
            (void)!write(c, buf, n);
          }
        }) {}
};

// Runs the command; its stdout goes to `out`.
int migrate(const std::string& socket, std::vector<std::string> args, std::string& out) {
  fflush(stdout);
  FILE* tmp = tmpfile();
  int saved = dup(1);
  dup2(fileno(tmp), 1);
  int status = -1;
  std::string error;
  try {
    CliContext ctx(socket);
    status = kMigrateCommand.run(ctx, args);
  } catch (const ToolError& e) {
    status = e.status();
    error = e.what();
  }
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  char buf[512] = {};
  rewind(tmp);
  out.assign(buf, fread(buf, 1, sizeof buf - 1, tmp));
  fclose(tmp);
  if (!error.empty()) out = "error: " + error;
  return status;
}

}  // namespace

TEST_CASE("migrate: asks for the vpid and node, prints the one-line result", "[migrate]") {
  ScriptedDaemon d([](const wire::Request&) {
    wire::MigrateDone done;
    done.from.set("alpha");
    done.to.set("beta");
    done.image_bytes = 3ull << 20;
    done.frozen_ns = 41300000;
    done.total_ns = 250000000;
    return wire::Reply{done};
  });
  std::string out;
  CHECK(migrate(d.path, {"--embed-files", "4194305", "beta"}, out) == 0);
  CHECK(out == "vpid 4194305: alpha \u2192 beta, 3.0 MiB, frozen 41.3 ms, total 0.25 s\n");
  const auto* req = std::get_if<wire::MigrateRequest>(&d.seen);
  REQUIRE(req);
  CHECK(req->vpid == 4194305);
  CHECK(std::string(req->node.s) == "beta");
  CHECK(req->flags == 2);
}

TEST_CASE("migrate: a failed migration is exit status 1 with the daemon's words", "[migrate]") {
  ScriptedDaemon d([](const wire::Request&) {
    wire::MigrateDone done;
    done.err = ENOSPC;
    done.message.set("beta: not enough space in /run/vproc/spool: need 1.0 GiB, have 512 MiB\n");
    return wire::Reply{done};
  });
  std::string out;
  CHECK(migrate(d.path, {"4194305", "beta"}, out) == 1);
  CHECK(out == "error: vpid 4194305: beta: not enough space in /run/vproc/spool: need 1.0 GiB, have 512 MiB");
}

TEST_CASE("migrate: a refusal (Error reply) is exit status 1", "[migrate]") {
  ScriptedDaemon d([](const wire::Request&) {
    wire::Error e;
    e.err = ENOENT;
    e.message.set("no node named 'gamma' in the cluster");
    return wire::Reply{e};
  });
  std::string out;
  CHECK(migrate(d.path, {"4194305", "gamma"}, out) == 1);
  CHECK(out == "error: vpid 4194305: no node named 'gamma' in the cluster");
}

TEST_CASE("migrate: usage errors are exit status 2 before any daemon is asked", "[migrate]") {
  std::string out;
  const std::string nowhere = "/nonexistent/vprocd.sock";
  CHECK(migrate(nowhere, {}, out) == 2);
  CHECK(out == "error: no VPID and HOST given (see 'vproc migrate --help')");
  CHECK(migrate(nowhere, {"12", "beta"}, out) == 2);
  CHECK(out == "error: '12' is not a virtual PID (vproc's PIDs are 4194304 and above)");
  CHECK(migrate(nowhere, {"4194305"}, out) == 2);
  CHECK(out == "error: no HOST given: which node should vpid 4194305 move to?");
  CHECK(migrate(nowhere, {"4194305", "a/b"}, out) == 2);
  CHECK(migrate(nowhere, {"4194305", "beta", "gamma"}, out) == 2);
  CHECK(migrate(nowhere, {"--fast", "4194305", "beta"}, out) == 2);
  CHECK(out == "error: unknown option '--fast' (see 'vproc migrate --help')");
}
