// vprocd's checkpoint requests through a real socket: refusals, a request
// answered when its writer reports (the reply deferred, later requests kept in
// order), the timeouts, --stop, and periodic policies. The test process
// plays the checkpointed process (it catches and blocks signal 62 and takes it
// with sigtimedwait) and its snapshot writer.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>

#include "server_fixture.h"

using namespace vproc;
using namespace vproc::daemon;
using namespace vproc::daemon::test;

namespace {

constexpr int kSig = 62;

// While alive, this process has a handler for kSig (so the daemon sees it
// caught) and blocks it (so the test takes it with sigtimedwait).
struct CkptSignalGuard {
  struct sigaction old_action {};
  sigset_t old_mask;
  static void ignore(int, siginfo_t*, void*) {}
  CkptSignalGuard() {
    struct sigaction sa {};
    sa.sa_sigaction = ignore;
    sa.sa_flags = SA_SIGINFO;
    REQUIRE(sigaction(kSig, &sa, &old_action) == 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, kSig);
    REQUIRE(sigprocmask(SIG_BLOCK, &set, &old_mask) == 0);
  }
  ~CkptSignalGuard() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, kSig);
    timespec zero{0, 0};
    while (sigtimedwait(&set, nullptr, &zero) == kSig) {
    }
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    sigaction(kSig, &old_action, nullptr);
  }
};

struct Request {
  uint32_t id = 0, flags = 0;
};

// Runs the loop until a checkpoint request arrives as kSig (false after `ms`).
bool take_request(ServerFixture& fx, Request& out, int ms = 3000) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kSig);
  for (int i = 0; i < ms; ++i) {
    fx.spin();
    siginfo_t si{};
    timespec one_ms{0, 1000000};
    if (sigtimedwait(&set, &si, &one_ms) != kSig) continue;
    CHECK(si.si_code == SI_QUEUE);
    CHECK(si.si_pid == getpid());  // the daemon is this process
    uint64_t v = uint64_t(reinterpret_cast<uintptr_t>(si.si_value.sival_ptr));
    CHECK((v >> 32) == 0x56435054u);  // libvproc's ckpt_request_value()
    out.id = uint32_t(v & 0xffffff);
    out.flags = uint32_t((v >> 24) & 0xff);
    return true;
  }
  return false;
}

wire::CheckpointRequest ckpt(uint32_t vpid, const std::string& path, uint32_t flags = 0) {
  wire::CheckpointRequest r;
  r.vpid = vpid;
  r.flags = flags;
  r.path.set(path.c_str());
  return r;
}

wire::CheckpointResult result(uint32_t id, uint32_t vpid, int err = 0) {
  wire::CheckpointResult r;
  r.request_id = id;
  r.vpid = vpid;
  r.err = err;
  r.image_bytes = 1 << 20;
  r.data_bytes = 4096;
  r.frozen_ns = 1234567;
  r.write_ns = 850000000;
  if (err) r.message.set("cannot be saved yet:\nfd 3: a socket");
  return r;
}

uint32_t hello(ServerFixture& fx, int fd, uint32_t sig = kSig) {
  auto ok = std::get<wire::HelloOk>(fx.ask(fd, wire::Hello{wire::kProtocolVersion, 0, 1, sig}));
  return ok.vpid;
}

// One request and its reply on a new connection, blocking (for forked children,
// while the parent runs the loop).
bool blocking_ask(const std::string& path, const wire::Request& req, wire::Reply& rep) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  strcpy(a.sun_path, path.c_str());
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
  alignas(8) char buf[wire::kLargeFrameBytes];
  size_t n = wire::encode(req, buf, sizeof buf);
  if (n == 0 || write(fd, buf, n) != ssize_t(n)) return false;
  size_t have = 0, want = 0;
  while (want == 0 || have < want) {
    ssize_t k = read(fd, buf + have, sizeof buf - have);
    if (k <= 0) return false;
    have += size_t(k);
    if (want == 0) want = wire::frame_size(buf, have);
    if (want == SIZE_MAX) return false;
  }
  close(fd);
  return wire::decode(buf, want, rep);
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (struct dirent* de = readdir(d))
      if (de->d_name[0] != '.') out.emplace_back(de->d_name);
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("checkpoint: refusals", "[checkpoint][server]") {
  CkptSignalGuard guard;
  ServerFixture fx;
  int c = fx.connect_client();
  std::string image = fx.d.dir.file("x.vpimg");
  auto refused = [&](const wire::Request& r) { return std::get<wire::Error>(fx.ask(c, r)); };

  wire::Error e = refused(ckpt(4194999, image));
  CHECK(e.err == ESRCH);
  CHECK(std::string(e.message.s) == "no process with vpid 4194999");

  uint32_t self = hello(fx, c);
  e = refused(ckpt(self, "relative.vpimg"));
  CHECK(e.err == EINVAL);
  CHECK(std::string(e.message.s) == "the image path must be absolute, not 'relative.vpimg'");
  e = refused(ckpt(self, fx.d.dir.file("missing/x.vpimg")));
  CHECK(e.err == ENOENT);
  CHECK(std::string(e.message.s) == "directory " + fx.d.dir.file("missing") + " does not exist");
  CHECK(refused(ckpt(self, fx.d.dir.path)).err == EISDIR);
  CHECK(refused(ckpt(self, image, 0x10)).err == EINVAL);

  Child disabled, unhandled;
  wire::HelloOk ok;
  REQUIRE(fx.d.table->hello(peer_of(disabled.pid()), wire::Hello{wire::kProtocolVersion, 0, 1, 0}, ok).ok());
  e = refused(ckpt(ok.vpid, image));
  CHECK(e.err == EOPNOTSUPP);
  CHECK(std::string(e.message.s) ==
        "vpid " + std::to_string(ok.vpid) + " has checkpointing disabled (VPROC_CKPT_SIGNAL=0)");
  // Told a signal it has no handler for: sending it would kill the process.
  REQUIRE(fx.d.table->hello(peer_of(unhandled.pid()), wire::Hello{wire::kProtocolVersion, 0, 1, kSig}, ok).ok());
  e = refused(ckpt(ok.vpid, image));
  CHECK(e.err == EOPNOTSUPP);
  CHECK(std::string(e.message.s).find("does not handle its checkpoint signal 62") != std::string::npos);

  if (geteuid() == 0) {
    Child other(Child::Options{65534});
    Status s = fx.checkpoints->request(peer_of(other.pid()), ckpt(self, image), [](const wire::Reply&) {});
    CHECK(s.err == EPERM);
  }

  e = refused(wire::CheckpointJob{self, 12345});
  CHECK(e.err == ENOENT);
  CHECK(std::string(e.message.s) == "no pending checkpoint request 12345 for vpid " + std::to_string(self));
  CHECK(refused(result(12345, self)).err == ENOENT);
  CHECK(fx.checkpoints->pending() == 0);
  close(c);
}

TEST_CASE("checkpoint: the reply waits for the writer's result; later requests wait behind it",
          "[checkpoint][server]") {
  CkptSignalGuard guard;
  ServerFixture fx;
  int self_fd = fx.connect_client();
  uint32_t self = hello(fx, self_fd);
  std::string image = fx.d.dir.file("self.vpimg");
  int client = fx.connect_client();
  fx.send_request(client, ckpt(self, image, 2));
  fx.send_request(client, wire::Ping{});
  Request req;
  REQUIRE(take_request(fx, req));
  CHECK(req.id != 0);
  CHECK(req.flags == 2);
  CHECK(fx.silent(client, 50));

  int other = fx.connect_client();
  CHECK(std::get<wire::Error>(fx.ask(other, ckpt(self, image))).err == EBUSY);

  int writer = fx.connect_client();
  auto spec = std::get<wire::CheckpointSpec>(fx.ask(writer, wire::CheckpointJob{self, req.id}));
  CHECK(std::string(spec.path.s) == image);
  CHECK(spec.flags == 2);
  CHECK(fx.silent(client, 20));
  CHECK(std::holds_alternative<wire::Ok>(fx.ask(writer, result(req.id, self))));

  auto done = std::get<wire::CheckpointDone>(fx.read_reply(client));
  CHECK(done.result.err == 0);
  CHECK(done.result.vpid == self);
  CHECK(done.result.image_bytes == 1 << 20);
  CHECK(done.result.write_ns == 850000000);
  CHECK(std::string(done.result.path.s) == image);  // filled in from the job
  CHECK(std::holds_alternative<wire::Pong>(fx.read_reply(client)));
  CHECK(fx.checkpoints->pending() == 0);

  // A failure travels the same way; a requester that hung up is simply not told.
  fx.send_request(client, ckpt(self, image));
  REQUIRE(take_request(fx, req));
  auto failed_ok = fx.ask(writer, result(req.id, self, EOPNOTSUPP));
  CHECK(std::holds_alternative<wire::Ok>(failed_ok));
  auto failed = std::get<wire::CheckpointDone>(fx.read_reply(client));
  CHECK(failed.result.err == EOPNOTSUPP);
  CHECK(std::string(failed.result.message.s) == "cannot be saved yet:\nfd 3: a socket");
  fx.send_request(client, ckpt(self, image));
  REQUIRE(take_request(fx, req));
  close(client);
  fx.spin();
  CHECK(std::holds_alternative<wire::Ok>(fx.ask(writer, result(req.id, self))));
  CHECK(std::get<wire::Error>(fx.ask(writer, result(req.id, self))).err == ENOENT);
  close(writer);
  close(other);
  close(self_fd);
}

TEST_CASE("checkpoint: a process that does not answer, a writer that dies", "[checkpoint][server]") {
  CkptSignalGuard guard;
  CheckpointLimits limits;
  limits.jobs.answer_s = 0.3;
  limits.jobs.gone_s = 0.1;
  limits.tick_s = 0.05;
  ServerFixture fx(limits);
  int self_fd = fx.connect_client();
  uint32_t self = hello(fx, self_fd);
  int client = fx.connect_client();

  fx.send_request(client, ckpt(self, fx.d.dir.file("a.vpimg")));
  Request req;
  REQUIRE(take_request(fx, req));  // and never answered
  auto e = std::get<wire::Error>(fx.read_reply(client));
  CHECK(e.err == ETIMEDOUT);
  CHECK(std::string(e.message.s).find("did not answer the checkpoint signal within 0.3 s") != std::string::npos);
  CHECK(fx.checkpoints->pending() == 0);

  fx.send_request(client, ckpt(self, fx.d.dir.file("b.vpimg")));
  REQUIRE(take_request(fx, req));
  pid_t w = fork();
  REQUIRE(w >= 0);
  if (w == 0) {
    // The writer: fetches the job, then dies without a result.
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    wire::Reply rep;
    _exit(blocking_ask(fx.path, wire::CheckpointJob{self, req.id}, rep) ? 0 : 1);
  }
  std::vector<uint64_t> f;
  int status = 0;
  bool reaped = false;
  for (int i = 0; i < 5000 && f.empty(); ++i) {
    fx.spin();
    if (!reaped && waitpid(w, &status, WNOHANG) == w) reaped = true;
    pollfd p{client, POLLIN, 0};
    if (poll(&p, 1, 1) > 0) f = fx.read_frame(client);
  }
  if (!reaped) waitpid(w, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  wire::Reply rep;
  REQUIRE(wire::decode(f.data(), f.size() * 8, rep));
  e = std::get<wire::Error>(rep);
  CHECK(e.err == EIO);
  CHECK(std::string(e.message.s).find("the snapshot writer (pid " + std::to_string(w) + ") exited") == 0);
  close(client);
  close(self_fd);
}

TEST_CASE("checkpoint: a periodic policy writes numbered images and keeps the newest", "[checkpoint][server]") {
  CkptSignalGuard guard;
  ServerFixture fx;
  int self_fd = fx.connect_client();
  uint32_t self = hello(fx, self_fd);
  TempDir images;
  std::string stale = images.file(("vpid-" + std::to_string(self) + ".000005.vpimg").c_str());
  std::ofstream(stale) << "old";

  auto policy = [&](uint32_t interval_ms, uint32_t keep, const std::string& dir) {
    wire::CheckpointPolicy p;
    p.vpid = self;
    p.interval_ms = interval_ms;
    p.keep = keep;
    p.dir.set(dir.c_str());
    return fx.ask(self_fd, p);
  };
  CHECK(std::get<wire::Error>(policy(100, 2, "rel")).err == EINVAL);
  CHECK(std::get<wire::Error>(policy(100, 2, images.file("none"))).err == ENOENT);
  CHECK(std::get<wire::Error>(policy(100, 0, images.path)).err == EINVAL);
  REQUIRE(std::holds_alternative<wire::Ok>(policy(100, 2, images.path)));
  CHECK(fx.policies->size() == 1);

  int writer = fx.connect_client();
  std::vector<std::string> written;
  for (int served = 0; served < 4;) {
    Request req;
    REQUIRE(take_request(fx, req));
    auto spec = std::get<wire::CheckpointSpec>(fx.ask(writer, wire::CheckpointJob{self, req.id}));
    written.push_back(spec.path.s);
    std::ofstream(spec.path.s) << "image";
    REQUIRE(std::holds_alternative<wire::Ok>(fx.ask(writer, result(req.id, self))));
    ++served;
  }
  std::string prefix = images.path + "/vpid-" + std::to_string(self) + ".";
  CHECK(written == std::vector<std::string>{prefix + "000006.vpimg", prefix + "000007.vpimg",
                                            prefix + "000008.vpimg", prefix + "000009.vpimg"});
  std::string v = std::to_string(self);
  CHECK(files_in(images.path) ==
        std::vector<std::string>{"vpid-" + v + ".000008.vpimg", "vpid-" + v + ".000009.vpimg"});

  REQUIRE(std::holds_alternative<wire::Ok>(policy(0, 0, "")));
  CHECK(fx.policies->size() == 0);
  close(writer);
  close(self_fd);
}

TEST_CASE("checkpoint: with --stop the reply comes once the process has stopped", "[checkpoint][server]") {
  ServerFixture fx;
  int ready[2];
  REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
  pid_t target = fork();
  REQUIRE(target >= 0);
  if (target == 0) {
    // The checkpointed process and its own writer: registers, takes the
    // request, reports the image complete, and only then stops itself.
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    struct sigaction sa {};
    sa.sa_sigaction = CkptSignalGuard::ignore;
    sa.sa_flags = SA_SIGINFO;
    sigaction(kSig, &sa, nullptr);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, kSig);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    wire::Reply rep;
    if (!blocking_ask(fx.path, wire::Hello{wire::kProtocolVersion, 0, 1, kSig}, rep)) _exit(1);
    uint32_t vpid = std::get<wire::HelloOk>(rep).vpid;
    if (write(ready[1], &vpid, sizeof vpid) != sizeof vpid) _exit(2);
    siginfo_t si{};
    if (sigwaitinfo(&set, &si) != kSig) _exit(3);
    uint32_t id = uint32_t(reinterpret_cast<uintptr_t>(si.si_value.sival_ptr) & 0xffffff);
    if (!blocking_ask(fx.path, wire::CheckpointJob{vpid, id}, rep)) _exit(4);
    if (!blocking_ask(fx.path, result(id, vpid), rep)) _exit(5);
    usleep(50000);  // the daemon must wait for the stop, not answer at once
    raise(SIGSTOP);
    _exit(0);
  }
  close(ready[1]);
  uint32_t vpid = 0;
  for (int i = 0; i < 5000 && !vpid; ++i) {
    fx.spin();
    pollfd p{ready[0], POLLIN, 0};
    if (poll(&p, 1, 1) > 0) REQUIRE(read(ready[0], &vpid, sizeof vpid) == sizeof vpid);
  }
  close(ready[0]);
  REQUIRE(vpid != 0);
  int client = fx.connect_client();
  fx.send_request(client, ckpt(vpid, fx.d.dir.file("stop.vpimg"), 1));
  auto done = std::get<wire::CheckpointDone>(fx.read_reply(client));
  CHECK(done.result.err == 0);
  ProcStat st;
  REQUIRE(read_proc_stat(RealPid{uint32_t(target)}, st));
  CHECK(st.state == 'T');
  kill(target, SIGKILL);
  waitpid(target, nullptr, 0);
  close(client);
}
