#include "exit_watch.h"

#include <ev.h>

namespace vproc::daemon {

struct PidfdExitWatch::Watcher {
  ev_io io;  // first member: the libev callback gets &io and casts back
  VPid vpid;
  PidfdExitWatch* owner;
};

PidfdExitWatch::PidfdExitWatch(struct ev_loop* loop, std::function<void(VPid)> on_exit)
    : loop_(loop), on_exit_(std::move(on_exit)) {}

PidfdExitWatch::~PidfdExitWatch() {
  for (auto& [v, w] : watchers_) ev_io_stop(loop_, &w->io);
}

void PidfdExitWatch::watch(VPid v, int pidfd) {
  unwatch(v);
  auto w = std::make_unique<Watcher>();
  w->vpid = v;
  w->owner = this;
  ev_io_init(&w->io, &PidfdExitWatch::readable, pidfd, EV_READ);
  ev_io_start(loop_, &w->io);
  watchers_[v.value] = std::move(w);
}

void PidfdExitWatch::unwatch(VPid v) {
  auto it = watchers_.find(v.value);
  if (it == watchers_.end()) return;
  ev_io_stop(loop_, &it->second->io);
  watchers_.erase(it);
}

void PidfdExitWatch::readable(struct ev_loop*, struct ev_io* io, int) {
  auto* w = reinterpret_cast<Watcher*>(io);
  PidfdExitWatch* self = w->owner;
  VPid v = w->vpid;
  // A pidfd stays readable after the exit: report once, then forget it. The
  // watcher is destroyed here, so touch nothing of it afterwards.
  self->unwatch(v);
  self->on_exit_(v);
}

}  // namespace vproc::daemon
