// The stdin a guest had not read yet, handed back to its shadow when the guest
// moves on (docs/cluster.md, "Migration", step 5).
//
// The shadow writes the guest's input into a socket ahead of the guest's reads:
// when a migration commits, the old copy's socket may hold much of it unread
// (a TCP receive queue grows to megabytes), and the new copy has read exactly
// what the old one had. So the source takes the old copy's fd 0 (pidfd_getfd,
// while the process waits for its verdict), and once the shadow has closed its
// end of that stream (it does when it gets the new guest's channels) reads it
// to its end and sends what it finds to the shadow's node as the "leftover"
// stream (a stdio connection for fd 3 of the new migration). The shadow sends
// the leftover to the new guest before anything else.
#pragma once

#include <ev.h>

#include <functional>
#include <memory>
#include <string>

#include "loop_task.h"
#include "pid_types.h"

namespace vproc::daemon {

class StdinHandover {
 public:
  // The old stream must end within this long (the shadow closes its end when
  // it gets the new channels, a few ms after the commit).
  static constexpr int kDrainLimitMs = 10000;

  // Opens the leftover stream to the shadow (blocking, on the worker thread):
  // a socket, or -errno with `why` set.
  using Open = std::function<int(std::string& why)>;
  // How it went, on the loop: bytes handed over, or an error text.
  using Done = std::function<void(bool ok, uint64_t bytes, const std::string& why)>;

  explicit StdinHandover(struct ev_loop* loop);
  ~StdinHandover();
  StdinHandover(const StdinHandover&) = delete;
  StdinHandover& operator=(const StdinHandover&) = delete;

  // `old_stdin` (owned from now on): the old copy's fd 0, -1 if it was not the
  // stream the shadow feeds any more (the leftover is then empty). `open`
  // gives the leftover stream's socket.
  void start(int old_stdin, Open open, Done done);
  bool running() const { return task_.running(); }

 private:
  LoopTask task_;
  int old_stdin_ = -1;
};

// The old copy's fd 0 if it is still the socket with inode `ino` (the one the
// node gave the guest), else -1. From the process `pid` (pidfd_getfd; the
// daemon may trace it).
int take_stdin_socket(RealPid pid, uint64_t ino);

// The inode of the socket `fd` (0 if it is none).
uint64_t socket_inode(int fd);

}  // namespace vproc::daemon
