// A migration's checkpoint (kCkptMigrate) through vprocd's own request
// handling, of a real process under libvproc (python3): the daemon signals
// it with flag 4, its snapshot writer writes the image, reports it, and asks
// for the verdict (MigrateWait). A daemon that does not decide migrations (or
// knows no migration with that id) gives none, and the process goes on as
// after any checkpoint: the same output as without one.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "ckpt_request.h"
#include "server_fixture.h"

using namespace vproc;
using namespace vproc::daemon;
using namespace vproc::daemon::test;

namespace {

constexpr const char kTicker[] =
    "import time\n"
    "for i in range(1, 21):\n"
    "    print('tick', i, flush=True)\n"
    "    time.sleep(0.05)\n"
    "print('done', flush=True)\n";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// python3 -c kTicker under libvproc with the fixture's daemon; stdout to OUT.
pid_t start_ticker(const ServerFixture& fx, const std::string& out) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);  // not Catch2's
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int in = open("/dev/null", O_RDONLY), o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open((out + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(126);
    syscall(SYS_close_range, 3u, ~0u, 0u);  // an open pipe would refuse the checkpoint
    setenv("LD_PRELOAD", VPROC_LIB_FILE, 1);
    setenv("VPROC_SOCKET", fx.path.c_str(), 1);
    setenv("VPROC_SHADOW", "/bin/false", 1);  // a migration from home needs one; never run here
    execl("/usr/bin/python3", "python3", "-c", kTicker, nullptr);
    _exit(127);
  }
  return pid;
}

}  // namespace

TEST_CASE("a migration's checkpoint: without a verdict the process goes on", "[migrate]") {
  if (access("/usr/bin/python3", X_OK) != 0) {
    WARN("skipped: no /usr/bin/python3");
    return;
  }
  ServerFixture fx;
  const std::string out = fx.d.dir.file("ticker.out"), image = fx.d.dir.file("mig.vpimg");
  pid_t pid = start_ticker(fx, out);
  struct Reaper {
    pid_t pid;
    bool done = false;
    ~Reaper() {
      if (!done) kill(pid, SIGKILL), waitpid(pid, nullptr, 0);
    }
  } reaper{pid};

  // Registered, and a few ticks in.
  const ProcessRecord* rec = nullptr;
  for (int i = 0; i < 10000 && !(rec && read_file(out).find("tick 3\n") != std::string::npos); ++i) {
    fx.spin();
    rec = fx.d.table->find_real(RealPid{uint32_t(pid)});
    usleep(1000);
  }
  INFO(read_file(out + ".err"));
  REQUIRE(rec);
  REQUIRE(read_file(out).find("tick 3\n") != std::string::npos);

  bool answered = false;
  wire::Reply result;
  Status s = fx.checkpoints->start(rec->vpid, image, kCkptMigrate, [&](const wire::Reply& r) {
    answered = true;
    result = r;
  });
  INFO(s.message);
  REQUIRE(s.ok());

  int status = -1;
  for (int i = 0; i < 20000 && !reaper.done; ++i) {
    fx.spin();
    if (waitpid(pid, &status, WNOHANG) == pid) reaper.done = true;
    usleep(500);
  }
  REQUIRE(reaper.done);
  REQUIRE(answered);
  auto* done = std::get_if<wire::CheckpointDone>(&result);
  REQUIRE(done);
  INFO(done->result.message.s);
  CHECK(done->result.err == 0);
  struct stat st;
  CHECK(stat(image.c_str(), &st) == 0);
  CHECK(st.st_size > 4096);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::string want;
  for (int i = 1; i <= 20; ++i) want += "tick " + std::to_string(i) + "\n";
  CHECK(read_file(out) == want + "done\n");
}
