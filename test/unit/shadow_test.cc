// The shadow of a migrated process: the real vproc-shadow binary, started as a
// child registered as a vpid, against a real in-process daemon (Server +
// ShadowService). The "guest" is the test: it holds the other ends of the stdio
// sockets it pushes, and its commit and signal hooks record what reaches them.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "fd_passing.h"
#include "server_fixture.h"
#include "shadow_service.h"

using namespace vproc;
using namespace vproc::daemon;
using namespace vproc::daemon::test;

namespace {

constexpr uint64_t kMigration = 77;
constexpr uint32_t kTarget = 1;

// In a forked child: waits for the vpid on `go_fd`, then runs the shadow
// binary `bin` for it (migration kMigration, target kTarget) with only `env`.
[[noreturn]] void exec_shadow(int go_fd, std::string& bin, std::string& env) {
  uint32_t v = 0;
  if (read(go_fd, &v, sizeof v) != sizeof v) _exit(120);
  char vs[16], ms[24], ts[16];
  snprintf(vs, sizeof vs, "%u", v);
  snprintf(ms, sizeof ms, "%llu", (unsigned long long)kMigration);
  snprintf(ts, sizeof ts, "%u", kTarget);
  char* argv[] = {bin.data(), vs, ms, ts, nullptr};
  char* envp[] = {env.data(), nullptr};
  execve(bin.c_str(), argv, envp);
  _exit(121);
}

// A daemon with a shadow service whose hooks record their calls.
struct ShadowDaemon {
  ServerFixture fx;
  std::unique_ptr<ShadowService> shadows;
  struct Commit {
    uint32_t vpid;
    uint64_t migration;
    uint32_t target;
  };
  std::vector<Commit> commits;
  std::vector<std::pair<uint32_t, int>> signals;  // (vpid, signo) for guests
  std::vector<uint32_t> gone;
  Status commit_answer = Status::success();

  ShadowDaemon() { make_service(); }
  ~ShadowDaemon() {
    fx.dispatch->set_shadows(nullptr);
    fx.server->stop();
  }
  // A fresh service, as a restarted daemon has.
  void make_service() {
    fx.dispatch->set_shadows(nullptr);
    shadows = std::make_unique<ShadowService>(fx.loop, *fx.d.table, fx.d.log);
    shadows->attach(*fx.server);
    shadows->set_commit([this](VPid v, uint64_t m, uint32_t t) {
      commits.push_back({v.value, m, t});
      return commit_answer;
    });
    shadows->set_signal_guest([this](const Peer&, VPid v, int signo) {
      signals.emplace_back(v.value, signo);
      return Status::success();
    });
    shadows->set_on_gone([this](VPid v) { gone.push_back(v.value); });
    fx.dispatch->set_shadows(shadows.get());
  }
  // Runs the loop until `done` or `ms` milliseconds passed.
  bool spin_until(const std::function<bool()>& done, int ms = 5000) {
    for (int i = 0; i < ms; ++i) {
      fx.spin();
      if (done()) return true;
      poll(nullptr, 0, 1);
    }
    fx.spin();
    return done();
  }
  bool got_signal(uint32_t vpid, int signo) const {
    for (auto& [v, s] : signals)
      if (v == vpid && s == signo) return true;
    return false;
  }
};

void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// vproc-shadow as a child: registered as a vpid of the daemon first (it is
// the process the record names), with its stdio on pipes.
struct ShadowProcess {
  ShadowDaemon& d;
  pid_t pid = -1;
  VPid vpid;
  int in = -1, out = -1, err = -1;  // our ends: its stdin, stdout, stderr
  bool reaped = false;
  std::string out_text, err_text;

  // `claim`: start it as this vpid instead of its own (a false claim).
  // `own_group`: in a process group of its own, which has a parent (the test)
  // in another group of the session: not orphaned, so the terminal stop
  // signals stop it.
  explicit ShadowProcess(ShadowDaemon& daemon, VPid claim = VPid{}, bool own_group = false) : d(daemon) {
    int p_in[2], p_out[2], p_err[2], go[2];
    REQUIRE(pipe2(p_in, O_CLOEXEC) == 0);
    REQUIRE(pipe2(p_out, O_CLOEXEC) == 0);
    REQUIRE(pipe2(p_err, O_CLOEXEC) == 0);
    REQUIRE(pipe2(go, O_CLOEXEC) == 0);
    std::string env = "VPROC_SOCKET=" + d.fx.path;
    std::string bin = VPROC_SHADOW_BIN;
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (own_group) setpgid(0, 0);
      dup2(p_in[0], 0);
      dup2(p_out[1], 1);
      dup2(p_err[1], 2);
      exec_shadow(go[0], bin, env);
    }
    close(p_in[0]);
    close(p_out[1]);
    close(p_err[1]);
    close(go[0]);
    in = p_in[1];
    out = p_out[0];
    err = p_err[0];
    set_nonblock(out);
    set_nonblock(err);
    vpid = d.fx.d.hello(peer_of(pid));
    uint32_t v = claim ? claim.value : vpid.value;
    REQUIRE(write(go[1], &v, sizeof v) == sizeof v);
    close(go[1]);
  }
  ~ShadowProcess() {
    if (!reaped) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    for (int fd : {in, out, err})
      if (fd >= 0) close(fd);
  }
  void close_stdin() {
    close(in);
    in = -1;
  }
  // Registered with the shadow service (its Hello accepted).
  void await_registered() {
    REQUIRE(d.spin_until([&] { return d.shadows->has_shadow(vpid); }));
  }
  static void drain(int fd, std::string& text) {
    char buf[4096];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0) text.append(buf, size_t(n));
  }
  // Runs the daemon until the shadow's stdout (or stderr) holds `want`.
  bool await_out(const std::string& want, bool stderr_too = false) {
    return d.spin_until([&] {
      drain(out, out_text);
      drain(err, err_text);
      return (stderr_too ? err_text : out_text).find(want) != std::string::npos;
    });
  }
  // Waits for a change of state (waitpid options: 0, WUNTRACED, ...); -1 if none came.
  int await_status(int options = 0, int ms = 8000) {
    int status = -1;
    bool got = d.spin_until(
        [&] {
          drain(out, out_text);
          drain(err, err_text);
          pid_t r = waitpid(pid, &status, WNOHANG | options);
          return r == pid;
        },
        ms);
    if (!got) return -1;
    if (WIFEXITED(status) || WIFSIGNALED(status)) reaped = true;
    return status;
  }
};

// One socketpair per guest fd in `mask`: the shadow's ends are pushed, the
// guest's ends returned (index = guest fd; -1 where not in the mask).
std::vector<int> push_channels(ShadowDaemon& d, VPid v, uint8_t mask) {
  std::vector<int> guest(3, -1), pushed;
  for (int fd = 0; fd < 3; ++fd) {
    if (!(mask & (1u << fd))) continue;
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    guest[size_t(fd)] = sv[0];
    pushed.push_back(sv[1]);
  }
  Status s = d.shadows->push_channels(v, pushed, mask);
  INFO(s.message);
  REQUIRE(s.ok());
  return guest;
}

// Reads from a guest socket until `want` bytes came (or EOF / timeout).
std::string guest_read(ShadowDaemon& d, int fd, size_t want, bool* eof = nullptr) {
  std::string got;
  d.spin_until([&] {
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) got.append(buf, size_t(n));
    if (n == 0 && eof) *eof = true;
    return got.size() >= want || n == 0;
  });
  return got;
}

void guest_write(int fd, const std::string& s) { REQUIRE(write(fd, s.data(), s.size()) == ssize_t(s.size())); }

}  // namespace

TEST_CASE("shadow: registers, then relays stdin and stdout/stderr through its channels", "[shadow]") {
  ShadowDaemon d;
  ShadowProcess sh(d);
  sh.await_registered();
  REQUIRE(d.commits.size() == 1);
  CHECK(d.commits[0].vpid == sh.vpid.value);
  CHECK(d.commits[0].migration == kMigration);
  CHECK(d.commits[0].target == kTarget);

  // Bytes typed before the channels exist wait in the shadow's stdin.
  REQUIRE(write(sh.in, "early ", 6) == 6);
  std::vector<int> g = push_channels(d, sh.vpid, 7);
  REQUIRE(write(sh.in, "input\n", 6) == 6);
  CHECK(guest_read(d, g[0], 12) == "early input\n");

  guest_write(g[1], "to stdout\n");
  guest_write(g[2], "to stderr\n");
  CHECK(sh.await_out("to stdout\n"));
  CHECK(sh.await_out("to stderr\n", true));
  CHECK(sh.out_text == "to stdout\n");
  CHECK(sh.err_text == "to stderr\n");

  // EOF on its stdin: the guest reads EOF.
  sh.close_stdin();
  bool eof = false;
  CHECK(guest_read(d, g[0], 1, &eof).empty());
  CHECK(eof);

  // A big burst arrives whole and in order.
  std::string big;
  for (int i = 0; i < 20000; ++i) big += std::to_string(i) + ",";
  size_t off = 0;
  REQUIRE(d.spin_until([&] {
    ssize_t n = send(g[1], big.data() + off, big.size() - off, MSG_DONTWAIT);
    if (n > 0) off += size_t(n);
    ShadowProcess::drain(sh.out, sh.out_text);
    return off == big.size();
  }));
  CHECK(sh.await_out(big.substr(big.size() - 20)));
  CHECK(sh.out_text == "to stdout\n" + big);
  for (int fd : g) close(fd);
}

TEST_CASE("shadow: new channels wait until the old output channel has ended", "[shadow]") {
  ShadowDaemon d;
  ShadowProcess sh(d);
  sh.await_registered();
  std::vector<int> a = push_channels(d, sh.vpid, 2);
  guest_write(a[1], "A1 ");
  CHECK(sh.await_out("A1 "));

  // The guest moved on: its new socket has data before the old one ends.
  guest_write(a[1], "A2 ");
  std::vector<int> b = push_channels(d, sh.vpid, 2);
  guest_write(b[1], "B1 ");
  d.spin_until([] { return false; }, 100);
  guest_write(a[1], "A3 ");
  d.spin_until([] { return false; }, 50);
  close(a[1]);
  guest_write(b[1], "B2");
  CHECK(sh.await_out("B2"));
  CHECK(sh.out_text == "A1 A2 A3 B1 B2");
  close(b[1]);
}

TEST_CASE("shadow: a new guest gets what the old one had not read of its stdin first", "[shadow]") {
  ShadowDaemon d;
  ShadowProcess sh(d);
  sh.await_registered();
  std::vector<int> a = push_channels(d, sh.vpid, 1);
  REQUIRE(write(sh.in, "one two ", 8) == 8);
  // The old guest reads this much; the rest waits in its socket.
  char first[4];
  REQUIRE(d.spin_until([&] { return recv(a[0], first, 4, MSG_DONTWAIT | MSG_PEEK) == 4; }));
  REQUIRE(recv(a[0], first, 4, 0) == 4);
  CHECK(std::string(first, 4) == "one ");

  // It moved on. Until the old copy's leftover has come, the new one gets nothing.
  std::vector<int> b = push_channels(d, sh.vpid, 1);
  REQUIRE(write(sh.in, "three ", 6) == 6);
  d.spin_until([] { return false; }, 100);
  char c;
  CHECK(recv(b[0], &c, 1, MSG_DONTWAIT) < 0);
  // The shadow closed the old stream: its source reads the rest to the end
  // ("three " too, if the shadow sent it before it saw the new channel)...
  bool eof = false;
  std::string rest;
  REQUIRE(d.spin_until([&] {
    rest += guest_read(d, a[0], 100, &eof);
    return eof;
  }));
  CHECK((rest == "two " || rest == "two three "));
  close(a[0]);
  // ...and hands it back (fd 3 of the new migration's channels).
  int lv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, lv) == 0);
  REQUIRE(d.shadows->push_channels(sh.vpid, {lv[1]}, 8).ok());
  guest_write(lv[0], rest);
  close(lv[0]);
  CHECK(guest_read(d, b[0], 10) == "two three ");
  sh.close_stdin();
  eof = false;
  CHECK(guest_read(d, b[0], 1, &eof).empty());
  CHECK(eof);
  close(b[0]);
}

TEST_CASE("shadow: when the reader of its stdout goes away, the guest's writes fail too", "[shadow]") {
  ShadowDaemon d;
  ShadowProcess sh(d);
  sh.await_registered();
  std::vector<int> g = push_channels(d, sh.vpid, 6);
  close(sh.out);
  sh.out = -1;
  guest_write(g[1], "nobody reads this\n");
  // The shadow's write fails with EPIPE; it closes the guest's socket, so the
  // guest gets EPIPE (and its SIGPIPE) as the original process would have.
  CHECK(d.spin_until([&] { return send(g[1], "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == EPIPE; }));
  // Its stderr still works, and it runs on.
  guest_write(g[2], "still here\n");
  CHECK(sh.await_out("still here\n", true));
  CHECK(waitpid(sh.pid, nullptr, WNOHANG) == 0);
  // New channels for the broken stream are refused the same way.
  std::vector<int> h = push_channels(d, sh.vpid, 2);
  CHECK(d.spin_until([&] { return send(h[1], "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == EPIPE; }));
  for (int fd : {g[1], g[2], h[1]}) close(fd);
}

TEST_CASE("shadow: exits with the guest's exit code after its last output", "[shadow]") {
  ShadowDaemon d;
  ShadowProcess sh(d);
  sh.await_registered();
  std::vector<int> g = push_channels(d, sh.vpid, 6);
  guest_write(g[1], "last words\n");
  guest_write(g[2], "last complaint\n");
  REQUIRE(d.shadows->push_exited(sh.vpid, W_EXITCODE(3, 0)).ok());
  close(g[1]);
  close(g[2]);
  int status = sh.await_status();
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  CHECK(sh.out_text == "last words\n");
  CHECK(sh.err_text == "last complaint\n");
  // Told that the guest exited: its exit is not a lost shadow.
  REQUIRE(d.spin_until([&] { return !d.shadows->has_shadow(sh.vpid); }));
  CHECK(d.gone.empty());
}

TEST_CASE("shadow: dies of the guest's signal, without a core dump", "[shadow]") {
  ShadowDaemon d;
  ShadowProcess sh(d);
  sh.await_registered();
  REQUIRE(d.shadows->push_exited(sh.vpid, SIGTERM).ok());  // wait status: killed by SIGTERM
  int status = sh.await_status();
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK_FALSE(WCOREDUMP(status));

  ShadowProcess sh2(d);
  sh2.await_registered();
  REQUIRE(d.shadows->push_exited(sh2.vpid, SIGSEGV | 0x80).ok());  // the guest dumped core
  status = sh2.await_status();
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGSEGV);
  CHECK_FALSE(WCOREDUMP(status));
}

TEST_CASE("shadow: forwards the signals it gets to the guest", "[shadow]") {
  ShadowDaemon d;
  ShadowProcess sh(d);
  sh.await_registered();
  REQUIRE(kill(sh.pid, SIGINT) == 0);
  CHECK(d.spin_until([&] { return d.got_signal(sh.vpid.value, SIGINT); }));
  REQUIRE(kill(sh.pid, SIGUSR1) == 0);
  REQUIRE(kill(sh.pid, SIGRTMIN + 3) == 0);
  REQUIRE(kill(sh.pid, SIGWINCH) == 0);
  CHECK(d.spin_until([&] {
    return d.got_signal(sh.vpid.value, SIGUSR1) && d.got_signal(sh.vpid.value, SIGRTMIN + 3) &&
           d.got_signal(sh.vpid.value, SIGWINCH);
  }));
  // Still running: none of them ended it.
  CHECK(waitpid(sh.pid, nullptr, WNOHANG) == 0);
  // A Signal for the vpid from anyone goes to the guest, not back to the shadow.
  int c = d.fx.connect_client();
  CHECK(std::holds_alternative<wire::Ok>(d.fx.ask(c, wire::Signal{sh.vpid.value, SIGHUP})));
  CHECK(d.got_signal(sh.vpid.value, SIGHUP));
  close(c);
  CHECK(waitpid(sh.pid, nullptr, WNOHANG) == 0);
}

size_t count_signals(const ShadowDaemon& d, uint32_t vpid, int signo) {
  return size_t(std::count(d.signals.begin(), d.signals.end(), std::make_pair(vpid, signo)));
}

TEST_CASE("shadow: stops when the guest stops, with its signal, and runs when it runs", "[shadow]") {
  ShadowDaemon d;
  ShadowProcess sh(d, VPid{}, true);
  sh.await_registered();
  uint32_t v = sh.vpid.value;
  REQUIRE(d.shadows->push_stopped(sh.vpid, SIGTSTP).ok());
  int status = sh.await_status(WUNTRACED);
  REQUIRE(WIFSTOPPED(status));
  CHECK(WSTOPSIG(status) == SIGTSTP);
  // The guest continues: the daemon continues the shadow, which passes
  // nothing on (the guest gets no second SIGCONT).
  REQUIRE(d.shadows->push_continued(sh.vpid).ok());
  status = sh.await_status(WCONTINUED);
  REQUIRE(WIFCONTINUED(status));
  d.spin_until([] { return false; }, 100);
  CHECK(count_signals(d, v, SIGCONT) == 0);

  // Ctrl-Z: the guest is told; the shadow stops when the guest does.
  REQUIRE(kill(sh.pid, SIGTSTP) == 0);
  CHECK(d.spin_until([&] { return d.got_signal(v, SIGTSTP); }));
  CHECK(sh.await_status(WUNTRACED, 200) == -1);
  REQUIRE(d.shadows->push_stopped(sh.vpid, SIGTSTP).ok());
  status = sh.await_status(WUNTRACED);
  REQUIRE(WIFSTOPPED(status));
  CHECK(WSTOPSIG(status) == SIGTSTP);
  // `fg`: SIGCONT continues it and goes on to the guest, whose continue is
  // only the echo.
  REQUIRE(kill(sh.pid, SIGCONT) == 0);
  CHECK(d.spin_until([&] { return count_signals(d, v, SIGCONT) == 1; }));
  REQUIRE(d.shadows->push_continued(sh.vpid).ok());
  CHECK(WIFCONTINUED(sh.await_status(WCONTINUED)));
  CHECK(sh.await_status(WUNTRACED | WCONTINUED, 300) == -1);
  CHECK(d.signals.back() == std::make_pair(v, int(SIGCONT)));

  // It still works: output is relayed.
  std::vector<int> g = push_channels(d, sh.vpid, 2);
  guest_write(g[1], "running\n");
  CHECK(sh.await_out("running\n"));
  close(g[1]);
}

TEST_CASE("shadow: a SIGSTOP of the shadow stops the guest; a stopped shadow follows the guest", "[shadow]") {
  ShadowDaemon d;
  ShadowProcess sh(d, VPid{}, true);
  sh.await_registered();
  uint32_t v = sh.vpid.value;
  // Stopped from outside (it cannot catch SIGSTOP): the daemon notices and
  // stops the guest; the guest's stop that follows is the echo.
  REQUIRE(kill(sh.pid, SIGSTOP) == 0);
  CHECK(WIFSTOPPED(sh.await_status(WUNTRACED)));
  CHECK(d.spin_until([&] { return d.got_signal(v, SIGSTOP); }));
  REQUIRE(d.shadows->push_stopped(sh.vpid, SIGSTOP).ok());
  REQUIRE(kill(sh.pid, SIGCONT) == 0);
  CHECK(WIFCONTINUED(sh.await_status(WCONTINUED)));
  CHECK(d.spin_until([&] { return count_signals(d, v, SIGCONT) == 1; }));
  REQUIRE(d.shadows->push_continued(sh.vpid).ok());
  CHECK(sh.await_status(WUNTRACED | WCONTINUED, 300) == -1);  // not stopped again
  CHECK(count_signals(d, v, SIGSTOP) == 1);

  // Stopped again; this time the guest is continued by someone else: the
  // shadow is continued too, and forwards nothing.
  REQUIRE(kill(sh.pid, SIGSTOP) == 0);
  CHECK(WIFSTOPPED(sh.await_status(WUNTRACED)));
  CHECK(d.spin_until([&] { return count_signals(d, v, SIGSTOP) == 2; }));
  REQUIRE(d.shadows->push_stopped(sh.vpid, SIGSTOP).ok());
  REQUIRE(d.shadows->push_continued(sh.vpid).ok());
  CHECK(WIFCONTINUED(sh.await_status(WCONTINUED)));
  d.spin_until([] { return false; }, 100);
  CHECK(count_signals(d, v, SIGCONT) == 1);

  // The guest stops, then dies of SIGKILL: so does the stopped shadow, at once.
  REQUIRE(d.shadows->push_stopped(sh.vpid, SIGTTOU).ok());
  int status = sh.await_status(WUNTRACED);
  REQUIRE(WIFSTOPPED(status));
  CHECK(WSTOPSIG(status) == SIGTTOU);
  REQUIRE(d.shadows->push_exited(sh.vpid, SIGKILL).ok());
  status = sh.await_status();
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  CHECK(d.gone.empty());
}

TEST_CASE("shadow: reconnects after the daemon went away, says Hello again and waits again", "[shadow]") {
  ShadowDaemon d;
  ShadowProcess sh(d);
  sh.await_registered();
  std::vector<int> a = push_channels(d, sh.vpid, 2);
  guest_write(a[1], "before ");
  CHECK(sh.await_out("before "));

  // A restarted daemon: every connection closed, and a service that knows nothing.
  d.fx.server->stop();
  d.make_service();
  // The relay does not need the daemon.
  guest_write(a[1], "during ");
  CHECK(sh.await_out("during "));
  d.fx.server->start();
  sh.await_registered();
  CHECK(d.commits.size() == 2);
  CHECK(d.commits[1].migration == kMigration);

  REQUIRE(kill(sh.pid, SIGUSR2) == 0);
  CHECK(d.spin_until([&] { return d.got_signal(sh.vpid.value, SIGUSR2); }));
  close(a[1]);
  std::vector<int> b = push_channels(d, sh.vpid, 2);
  guest_write(b[1], "after");
  CHECK(sh.await_out("after"));
  CHECK(sh.out_text == "before during after");
  REQUIRE(d.shadows->push_exited(sh.vpid, W_EXITCODE(0, 0)).ok());
  close(b[1]);
  int status = sh.await_status();
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("shadow: a shadow killed before its guest exited is reported gone", "[shadow]") {
  ShadowDaemon d;
  ShadowProcess sh(d);
  sh.await_registered();
  REQUIRE(kill(sh.pid, SIGKILL) == 0);
  REQUIRE(d.spin_until([&] { return !d.gone.empty(); }));
  CHECK(d.gone == std::vector<uint32_t>{sh.vpid.value});
  CHECK_FALSE(d.shadows->has_shadow(sh.vpid));
}

TEST_CASE("shadow: a Hello from a process that is not the vpid's is refused", "[shadow]") {
  ShadowDaemon d;
  Child other;
  VPid v = d.fx.d.hello(peer_of(other.pid()));

  // A client claiming to stand for someone else's vpid.
  int c = d.fx.connect_client();
  auto e = std::get<wire::Error>(d.fx.ask(c, wire::ShadowHello{v.value, kTarget, kMigration}));
  CHECK(e.err == EPERM);
  e = std::get<wire::Error>(d.fx.ask(c, wire::ShadowWait{v.value}));
  CHECK(e.err == ESRCH);
  e = std::get<wire::Error>(d.fx.ask(c, wire::ShadowHello{4194304 + 999, kTarget, kMigration}));
  CHECK(e.err == ESRCH);
  close(c);
  CHECK(d.commits.empty());

  // The real shadow binary with a false claim: refused, says so, and dies as
  // a lost process does.
  ShadowProcess liar(d, v);
  int status = liar.await_status();
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  CHECK(liar.err_text.find("refused") != std::string::npos);
  CHECK(liar.err_text.find("is not the process of vpid") != std::string::npos);
  CHECK_FALSE(d.shadows->has_shadow(v));
  CHECK(d.commits.empty());

  // The commit hook's refusal is the reply, too.
  d.commit_answer = Status::failure(ECANCELED, "migration 77 was aborted");
  ShadowProcess late(d);
  status = late.await_status();
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  CHECK(late.err_text.find("migration 77 was aborted") != std::string::npos);
  CHECK_FALSE(d.shadows->has_shadow(late.vpid));
}

TEST_CASE("shadow: as a background job it leaves the terminal's input alone until it is in the foreground",
          "[shadow]") {
  ShadowDaemon d;
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  REQUIRE(master >= 0);
  REQUIRE(grantpt(master) == 0);
  REQUIRE(unlockpt(master) == 0);
  std::string slave = ptsname(master);
  int report[2], go[2], fg[2];
  REQUIRE(pipe2(report, O_CLOEXEC) == 0);
  REQUIRE(pipe2(go, O_CLOEXEC) == 0);
  REQUIRE(pipe2(fg, O_CLOEXEC) == 0);
  std::string env = "VPROC_SOCKET=" + d.fx.path;
  std::string bin = VPROC_SHADOW_BIN;
  // A "shell": a session leader with the terminal, the foreground group, and
  // the shadow as its background job (its own process group).
  pid_t shell = fork();
  REQUIRE(shell >= 0);
  if (shell == 0) {
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    close(report[0]);
    close(go[1]);
    close(fg[1]);
    setsid();
    int tty = open(slave.c_str(), O_RDWR);  // becomes the controlling terminal
    if (tty < 0) _exit(120);
    pid_t job = fork();
    if (job == 0) {
      setpgid(0, 0);
      dup2(tty, 0);
      dup2(tty, 1);
      dup2(tty, 2);
      exec_shadow(go[0], bin, env);
    }
    setpgid(job, job);
    if (write(report[1], &job, sizeof job) != sizeof job) _exit(122);
    char c;
    if (read(fg[0], &c, 1) == 1) {  // `fg`
      tcsetpgrp(tty, job);
      kill(-job, SIGCONT);
      (void)!read(fg[0], &c, 1);
    }
    kill(job, SIGKILL);
    waitpid(job, nullptr, 0);
    _exit(0);
  }
  close(report[1]);
  close(go[0]);
  close(fg[0]);
  pid_t job = -1;
  // Whatever fails below, neither process outlives the test.
  struct Reaper {
    pid_t& job;
    pid_t shell;
    bool done = false;
    ~Reaper() {
      if (done) return;
      if (job > 0) kill(job, SIGKILL);
      kill(shell, SIGKILL);
      waitpid(shell, nullptr, 0);
    }
  } reaper{job, shell};
  REQUIRE(read(report[0], &job, sizeof job) == sizeof job);
  close(report[0]);
  VPid v = d.fx.d.hello(peer_of(job));
  uint32_t vv = v.value;
  REQUIRE(write(go[1], &vv, sizeof vv) == sizeof vv);
  close(go[1]);

  REQUIRE(d.spin_until([&] { return d.shadows->has_shadow(v); }));
  std::vector<int> g = push_channels(d, v, 1);
  REQUIRE(write(master, "typed\n", 6) == 6);
  d.spin_until([] { return false; }, 300);
  char buf[64];
  CHECK(recv(g[0], buf, sizeof buf, MSG_DONTWAIT) < 0);  // nothing: it is in the background
  CHECK(d.got_signal(v.value, SIGTTIN) == false);

  REQUIRE(write(fg[1], "f", 1) == 1);
  CHECK(guest_read(d, g[0], 6) == "typed\n");
  CHECK(d.spin_until([&] { return d.got_signal(v.value, SIGCONT); }));

  close(fg[1]);  // the "shell" kills its job and exits
  int status = 0;
  REQUIRE(waitpid(shell, &status, 0) == shell);
  reaper.done = true;
  CHECK(WIFEXITED(status));
  close(g[0]);
  close(master);
}

TEST_CASE("shadow service: events wait for a ShadowWait and go out in order, sockets attached", "[shadow]") {
  ShadowDaemon d;
  // The test process itself plays the shadow: it is the process of its vpid.
  VPid v = d.fx.d.hello(self_peer());
  int c = d.fx.connect_client();
  REQUIRE(std::holds_alternative<wire::Ok>(d.fx.ask(c, wire::ShadowHello{v.value, kTarget, kMigration})));
  REQUIRE(d.shadows->has_shadow(v));
  // Said again on the same daemon (a reconnect): accepted without a second commit.
  REQUIRE(std::holds_alternative<wire::Ok>(d.fx.ask(c, wire::ShadowHello{v.value, kTarget, kMigration})));
  CHECK(d.commits.size() == 1);

  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  REQUIRE(d.shadows->push_stopped(v, SIGTSTP).ok());
  REQUIRE(d.shadows->push_channels(v, {sv[1]}, 4).ok());
  REQUIRE(d.shadows->push_exited(v, W_EXITCODE(5, 0)).ok());
  CHECK(d.shadows->push_channels(v, {}, 1).err == EINVAL);
  CHECK(d.shadows->push_exited(VPid{v.value + 1}, 0).err == ESRCH);

  auto next = [&](std::vector<int>& fds) {
    d.fx.send_request(c, wire::ShadowWait{v.value});
    alignas(8) char buf[wire::kSmallFrameBytes];
    size_t have = 0;
    wire::Reply rep;
    REQUIRE(d.spin_until([&] {
      ssize_t n = recv_with_fds(c, buf + have, sizeof buf - have, fds);
      if (n <= 0) return false;
      have += size_t(n);
      size_t size = wire::frame_size(buf, have);
      return size != 0 && size != SIZE_MAX && have >= size;
    }));
    REQUIRE(wire::decode(buf, wire::frame_size(buf, have), rep));
    return std::get<wire::ShadowEvent>(rep);
  };
  std::vector<int> fds;
  wire::ShadowEvent e = next(fds);
  CHECK(e.kind == wire::ShadowEventKind::Stopped);
  CHECK(e.status == SIGTSTP);
  CHECK(fds.empty());
  e = next(fds);
  CHECK(e.kind == wire::ShadowEventKind::Channels);
  CHECK(e.fd_mask == 4);
  REQUIRE(fds.size() == 1);
  REQUIRE(write(fds[0], "z", 1) == 1);  // the pushed socket's end
  char ch = 0;
  REQUIRE(read(sv[0], &ch, 1) == 1);
  CHECK(ch == 'z');
  close(fds[0]);
  fds.clear();
  e = next(fds);
  CHECK(e.kind == wire::ShadowEventKind::Exited);
  CHECK(e.status == W_EXITCODE(5, 0));

  // Nothing more: the next wait stays unanswered.
  d.fx.send_request(c, wire::ShadowWait{v.value});
  CHECK(d.fx.silent(c, 50));
  close(c);
  close(sv[0]);
}
