#include "loop_task.h"

#include <signal.h>

#include <utility>

namespace vproc::daemon {

LoopTask::LoopTask(struct ev_loop* loop) : loop_(loop) {
  ev_async_init(&async_, &LoopTask::on_async);
  async_.data = this;
}

LoopTask::~LoopTask() { join(); }

void LoopTask::join() {
  if (thread_.joinable()) thread_.join();
  ev_async_stop(loop_, &async_);
  running_ = false;
}

void LoopTask::start(std::function<void()> work, std::function<void()> done) {
  done_ = std::move(done);
  running_ = true;
  ev_async_start(loop_, &async_);
  thread_ = std::thread([this, work = std::move(work)] {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    work();
    ev_async_send(loop_, &async_);
  });
}

void LoopTask::on_async(struct ev_loop* loop, ev_async* w, int) {
  auto* self = static_cast<LoopTask*>(w->data);
  self->thread_.join();
  ev_async_stop(loop, w);
  self->running_ = false;
  std::function<void()> done = std::move(self->done_);
  done();  // may destroy *self
}

}  // namespace vproc::daemon
