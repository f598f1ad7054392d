// A migrated process's stops and continues at its home node: the shadow
// mirrors its guest, and what a stopped shadow cannot do for itself happens
// here (shadow_service.h, "Stops and continues"; docs/cluster.md).
#include <signal.h>

#include <cerrno>

#include "proc_stat.h"
#include "shadow_service.h"
#include "shadow_wake.h"
#include "strf.h"

namespace vproc::daemon {

bool ShadowService::is_stopped(RealPid pid, uint64_t start_ticks) {
  ProcStat st;
  return read_proc_stat(pid, st) && st.state == 'T' && st.start_ticks == start_ticks;
}

void ShadowService::wake(RealPid pid) {
  sigval value{};
  value.sival_int = kShadowWakeValue;
  sigqueue(pid_t(pid.value), SIGCONT, value);
}

Status ShadowService::push_stopped(VPid vpid, int signo) {
  auto it = shadows_.find(vpid.value);
  if (it == shadows_.end()) return Status::failure(ESRCH, strf("vpid %u has no shadow here", vpid.value));
  Shadow& s = *it->second;
  bool echo = s.stop_echo;
  // A stop comes after the continue that answered the shadow's SIGCONT, if
  // there was one to answer.
  s.stop_echo = s.cont_echo = false;
  // Stopped already (a second stop is nothing its parent could see), or the
  // stop is the one this daemon asked for because the shadow was stopped.
  bool stopped = is_stopped(s.real, s.start_ticks);
  if (echo || stopped) {
    log_.event("vpid %u stopped (signal %d), as its shadow %s", vpid.value, signo, stopped ? "is" : "was");
    return Status::success();
  }
  return push(vpid, Event{wire::ShadowEvent{wire::ShadowEventKind::Stopped, signo, 0}, {}});
}

Status ShadowService::push_continued(VPid vpid) {
  auto it = shadows_.find(vpid.value);
  if (it == shadows_.end()) return Status::failure(ESRCH, strf("vpid %u has no shadow here", vpid.value));
  Shadow& s = *it->second;
  bool echo = s.cont_echo;
  s.cont_echo = false;
  // A SIGSTOP passed on after the shadow's SIGCONT is still to be answered;
  // one passed on before was lost on a stopped guest.
  if (!echo) s.stop_echo = false;
  // Not as an event: a running shadow has nothing to do, a stopped one
  // cannot read it. The echo of the shadow's own SIGCONT: it runs already
  // (and if it is stopped again, that stop is newer).
  if (!echo) owe_if_stopped(s, Shadow::Owed::Continue);
  return Status::success();
}

void ShadowService::owe_if_stopped(Shadow& s, Shadow::Owed what) {
  // Stopped, or about to stop as the mirror of a stop it was sent: it is
  // continued (or killed) once it is stopped. A ShadowWait says it runs.
  if (s.stop_sent || is_stopped(s.real, s.start_ticks)) {
    if (s.owed != Shadow::Owed::Kill) s.owed = what;
    check_stop(s);
  }
}

void ShadowService::check_stop(Shadow& s) {
  if (!is_stopped(s.real, s.start_ticks)) {
    s.stop_passed = false;  // it forwards the SIGCONT that ended that stop
    return;
  }
  switch (s.owed) {
    case Shadow::Owed::Kill:
      log_.event("shadow of vpid %u (pid %u) is stopped and its guest was killed: killing it", s.vpid.value,
                 s.real.value);
      kill(pid_t(s.real.value), SIGKILL);
      s.owed = Shadow::Owed::Nothing;
      return;
    case Shadow::Owed::Continue:
      wake(s.real);
      s.owed = Shadow::Owed::Nothing;
      s.stop_passed = false;
      return;
    case Shadow::Owed::Nothing:
      break;
  }
  if (s.stop_sent || s.stop_passed || s.exit_pushed) return;  // a stop it knows of
  s.stop_passed = s.stop_echo = true;
  log_.event("shadow of vpid %u (pid %u) was stopped: stopping its guest", s.vpid.value, s.real.value);
  if (signal_guest_) {
    Status st = signal_guest_(s.peer, s.vpid, SIGSTOP);
    if (!st.ok()) log_.warning("cannot stop the guest of vpid %u: %s", s.vpid.value, st.message.c_str());
  }
}

void ShadowService::on_poll(struct ev_loop*, ev_timer* w, int) {
  auto* self = static_cast<ShadowService*>(w->data);
  for (auto& [vpid, sh] : self->shadows_) self->check_stop(*sh);
}

void ShadowService::update_poll() {
  if (shadows_.empty()) {
    ev_timer_stop(loop_, &poll_);
  } else if (!ev_is_active(&poll_)) {
    ev_timer_again(loop_, &poll_);
  }
}

}  // namespace vproc::daemon
