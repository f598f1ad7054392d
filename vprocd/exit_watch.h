// Telling the process table when a registered process or thread exits.
//
// The table hands each pidfd to an ExitWatch. The real one (PidfdExitWatch)
// puts it in the libev loop: a pidfd turns readable when its task exits. Tests
// use their own ExitWatch and call ProcessTable::on_exit themselves.
#pragma once

#include <ev.h>

#include <functional>
#include <memory>
#include <unordered_map>

#include "pid_types.h"

namespace vproc::daemon {

class ExitWatch {
 public:
  virtual ~ExitWatch() = default;
  // Report (once) when `pidfd` (which names `v`) becomes readable.
  virtual void watch(VPid v, int pidfd) = 0;
  // Stop watching `v` (before its pidfd is closed).
  virtual void unwatch(VPid v) = 0;
};

class PidfdExitWatch : public ExitWatch {
 public:
  PidfdExitWatch(struct ev_loop* loop, std::function<void(VPid)> on_exit);
  ~PidfdExitWatch() override;

  void watch(VPid v, int pidfd) override;
  void unwatch(VPid v) override;
  size_t watched() const { return watchers_.size(); }

 private:
  struct Watcher;
  static void readable(struct ev_loop* loop, struct ev_io* w, int revents);

  struct ev_loop* loop_;
  std::function<void(VPid)> on_exit_;
  std::unordered_map<uint32_t, std::unique_ptr<Watcher>> watchers_;
};

}  // namespace vproc::daemon
