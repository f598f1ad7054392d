// Helpers for the vprocd unit tests: a temp dir, a table + process table with a
// fake exit watch, and real child processes to register.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "exit_watch.h"
#include "logger.h"
#include "proc_stat.h"
#include "process_table.h"
#include "shared_table_writer.h"

namespace vproc::daemon::test {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/vprocd-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path + "'";
    (void)!system(cmd.c_str());
  }
  std::string file(const char* name) const { return path + "/" + name; }
};

// Records what the table asks to watch; tests report exits themselves.
struct FakeWatch : ExitWatch {
  std::map<uint32_t, int> watched;
  void watch(VPid v, int pidfd) override { watched[v.value] = pidfd; }
  void unwatch(VPid v) override { watched.erase(v.value); }
};

inline Peer peer_of(pid_t pid) {
  Peer p;
  p.pid = RealPid{uint32_t(pid)};
  ProcUids u;
  p.uid = read_proc_uids(p.pid, u) ? u.effective : 0;
  ProcStat st;
  if (read_proc_stat(p.pid, st)) p.start_ticks = st.start_ticks;
  return p;
}
inline Peer self_peer() { return peer_of(getpid()); }

// A table file plus the daemon's process table over it.
struct DaemonState {
  TempDir dir;
  Logger log;
  FakeWatch watch;
  std::unique_ptr<SharedTableWriter> writer;
  std::unique_ptr<ProcessTable> table;
  AdoptionReport report;

  DaemonState() {
    log.set_level(Logger::Level::Silent);
    restart();
  }
  // Drops the in-memory state and re-adopts the file, as a restarted daemon does.
  void restart() {
    table.reset();
    writer.reset();
    watch.watched.clear();
    Status s = SharedTableWriter::open(dir.file("vprocd.table"), TableIdentity{0, "unit"}, writer, report);
    INFO(s.message);
    REQUIRE(s.ok());
    table = std::make_unique<ProcessTable>(*writer, watch, log);
    table->adopt(report);
  }
  TableView view() const { return writer->view(); }

  // Registers `peer` with Hello{0}; returns its vpid and lease.
  VPid hello(const Peer& peer, wire::Lease* lease = nullptr, uint32_t parent = 1) {
    wire::HelloOk ok;
    Status s = table->hello(peer, wire::Hello{wire::kProtocolVersion, 0, parent}, ok);
    INFO(s.message);
    REQUIRE(s.ok());
    if (lease) *lease = ok.lease;
    return VPid{ok.vpid};
  }
};

// A forked child that waits until told to exit (or is killed). Optionally it
// switches to another uid first, or makes itself a process group leader.
class Child {
 public:
  struct Options {
    uid_t uid = 0;  // 0: stay
    bool own_group = false;
  };
  Child() : Child(Options{}) {}
  explicit Child(Options o) {
    if (o.uid && geteuid() != 0) FAIL("this test needs root: it runs a child as uid " << o.uid);
    int go[2], ready[2];
    REQUIRE(pipe2(go, O_CLOEXEC) == 0);
    REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      close(go[1]);
      close(ready[0]);
      // Catch2's fatal-signal handlers were inherited: a signal the test sends
      // must kill this child, not make it print a test report.
      for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
      if (o.own_group) setpgid(0, 0);
      if (o.uid && setresuid(o.uid, o.uid, o.uid) != 0) _exit(99);
      char c = 'r';
      (void)!write(ready[1], &c, 1);
      char code = 0;
      ssize_t n = read(go[0], &code, 1);
      _exit(n == 1 ? code : 0);
    }
    close(go[0]);
    close(ready[1]);
    go_ = go[1];
    char c;
    REQUIRE(read(ready[0], &c, 1) == 1);
    close(ready[0]);
  }
  ~Child() {
    if (go_ >= 0) close(go_);
    if (!reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  RealPid real() const { return RealPid{uint32_t(pid_)}; }
  void exit_with(char code) {
    REQUIRE(write(go_, &code, 1) == 1);
    close(go_);
    go_ = -1;
  }
  // Waits until the child is a zombie (exited, not reaped).
  void await_zombie() {
    for (int i = 0; i < 2000; ++i) {
      ProcStat st;
      if (read_proc_stat(real(), st) && st.state == 'Z') return;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    FAIL("child " << pid_ << " did not become a zombie");
  }
  // Waits until the child blocks (state S), so /proc shows a steady state.
  void await_sleeping() {
    for (int i = 0; i < 2000; ++i) {
      ProcStat st;
      if (read_proc_stat(real(), st) && st.state == 'S') return;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    FAIL("child " << pid_ << " did not go to sleep");
  }
  int reap() {
    int status = 0;
    REQUIRE(waitpid(pid_, &status, 0) == pid_);
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int go_ = -1;
  bool reaped_ = false;
};

}  // namespace vproc::daemon::test
