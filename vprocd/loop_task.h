// A piece of blocking work on its own thread whose end is reported on the
// libev loop: the thread runs `work`, then ev_async wakes the loop, which joins
// the thread and calls `done` there.
//
// `done` may destroy the LoopTask (and its owner): nothing touches the object
// after calling it. Destroying a running LoopTask joins its thread, so its
// owner must first make the work end (e.g. cancel a transfer).
#pragma once

#include <ev.h>

#include <atomic>
#include <functional>
#include <thread>

namespace vproc::daemon {

class LoopTask {
 public:
  explicit LoopTask(struct ev_loop* loop);
  ~LoopTask();
  LoopTask(const LoopTask&) = delete;
  LoopTask& operator=(const LoopTask&) = delete;

  // Once per LoopTask. SIGPIPE is blocked on the thread (a send to a closed
  // socket fails with EPIPE instead).
  void start(std::function<void()> work, std::function<void()> done);
  // Started and `done` not yet called.
  bool running() const { return running_; }
  // Waits for the thread to end (on the loop thread, for owners that are being
  // destroyed: `done` is then never called).
  void join();

 private:
  static void on_async(struct ev_loop* loop, ev_async* w, int revents);

  struct ev_loop* loop_;
  ev_async async_;
  std::thread thread_;
  std::function<void()> done_;
  bool running_ = false;
};

}  // namespace vproc::daemon
