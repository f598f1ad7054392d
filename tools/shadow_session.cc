#include "monotonic.h"
#include "shadow_session.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "shadow_signals.h"

namespace vproc::shadow {
namespace {

void close_all(std::vector<int>& fds) {
  for (int fd : fds) close(fd);
  fds.clear();
}

}  // namespace

ShadowSession::ShadowSession(const ShadowArgs& args, std::string socket_path, int signal_fd, unsigned closed_stdio)
    : args_(args),
      socket_path_(std::move(socket_path)),
      signal_fd_(signal_fd),
      relay_(closed_stdio),
      children_(args.vpid, socket_path_) {
  started_ms_ = monotonic_ms();
  children_.scan();
}

void ShadowSession::lost(const char* why, const char* detail) {
  dprintf(2, "vproc-shadow: vpid %u: migration %llu %s%s%s; the process is lost\n", args_.vpid,
          (unsigned long long)args_.migration, why, detail[0] ? ": " : "", detail);
  exit_like(SIGKILL);  // a wait status: killed by SIGKILL
}

void ShadowSession::connect_events(int64_t now) {
  int err = events_.open(socket_path_.c_str());
  if (err == 0 && events_.send(wire::ShadowHello{args_.vpid, args_.target, args_.migration})) {
    phase_ = Phase::Hello;
    return;
  }
  events_lost(now);
}

void ShadowSession::events_lost(int64_t now) {
  events_.close();
  children_.set_ready(false);
  phase_ = Phase::Down;
  retry_at_ = now + backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, kRetryMaxMs);
}

void ShadowSession::read_events(int64_t now) {
  for (;;) {
    wire::Reply reply;
    std::vector<int> fds;
    DaemonLink::Got got = events_.receive(reply, fds);
    if (got == DaemonLink::Got::Nothing) return;
    if (got == DaemonLink::Got::Closed) return events_lost(now);
    if (phase_ == Phase::Hello) {
      close_all(fds);
      if (std::holds_alternative<wire::Ok>(reply)) {
        phase_ = Phase::Waiting;
        committed_ = true;
        backoff_ms_ = kRetryFirstMs;
        if (!events_.send(wire::ShadowWait{args_.vpid})) return events_lost(now);
        send_signals();  // what arrived while it was not registered
        children_.set_ready(true);
        continue;
      }
      if (auto* e = std::get_if<wire::Error>(&reply))
        lost("was refused by the daemon", e->message.s[0] ? e->message.s : strerror(e->err));
      return events_lost(now);  // not an answer to a Hello
    }
    auto* ev = std::get_if<wire::ShadowEvent>(&reply);
    if (phase_ != Phase::Waiting || !ev) {
      // An Error (say, the daemon forgot us) or nonsense: start over with a Hello.
      close_all(fds);
      return events_lost(now);
    }
    handle_event(*ev, fds, now);
    if (exiting_) return;
    if (!events_.send(wire::ShadowWait{args_.vpid})) return events_lost(now);
  }
}

void ShadowSession::handle_event(const wire::ShadowEvent& ev, std::vector<int>& fds, int64_t now) {
  switch (ev.kind) {
    case wire::ShadowEventKind::Channels:
      if (fds.empty() || size_t(std::popcount(unsigned(ev.fd_mask & 15))) != fds.size()) break;
      relay_.add_channels(fds, ev.fd_mask, now);
      fds.clear();  // the relay owns them
      break;
    case wire::ShadowEventKind::Exited:
      begin_exit(ev.status, now);
      break;
    case wire::ShadowEventKind::Stopped:
      stop_signal_ = ev.status == SIGSTOP || is_terminal_stop(ev.status) ? ev.status : SIGSTOP;
      mirror_stop();
      break;
    case wire::ShadowEventKind::Continued:
      break;  // the daemon continues a stopped shadow (it cannot read this)
  }
  close_all(fds);
}

void ShadowSession::mirror_stop() {
  // Signals that came meanwhile go first. A SIGCONT among them is newer than
  // the stop as far as the shadow can tell: forwarded, it continues the guest
  // (or finds it running), so the shadow runs on.
  cont_seen_ = false;
  read_signals();
  if (exiting_ || cont_seen_) return;
  stop_with(stop_signal_);
}

void ShadowSession::read_signals() {
  while (true) {
    Arrived a = next_signal(signal_fd_);
    if (!a.signo) return;
    on_signal(a);
  }
}

void ShadowSession::on_signal(const Arrived& a) {
  int signo = a.signo;
  // The kernel's word about the children left behind, not a signal for the guest.
  if (signo == SIGCHLD) return children_.on_sigchld();
  if (exiting_) return;  // the guest is gone
  // The daemon continued a stop that mirrored the guest's, because the guest
  // continued: nothing to pass on.
  if (a.wake) return;
  if (signo == SIGCONT) cont_seen_ = true;
  // A standard signal is pending at most once (as in the kernel); real-time
  // signals (the kernel's, from 32: glibc's SIGRTMIN skips two it keeps) queue,
  // up to a bound.
  constexpr int kFirstRealtime = 32;
  bool queued = std::find(pending_signals_.begin(), pending_signals_.end(), signo) != pending_signals_.end();
  if (!(queued && signo < kFirstRealtime) && pending_signals_.size() < kMaxQueuedSignals)
    pending_signals_.push_back(signo);
  // A terminal stop signal (^Z) is only passed on: the shadow stops when the
  // guest does, with the signal that stopped it (a program may catch it).
  send_signals();
}

void ShadowSession::send_signals() {
  // Only once this daemon knows the shadow: before that, it would deliver a
  // Signal for the vpid to its real pid, that is, back to the shadow.
  if (phase_ != Phase::Waiting) return;
  for (int attempt = 0; attempt < 2 && !pending_signals_.empty(); ++attempt) {
    if (!signals_.is_open() && signals_.open(socket_path_.c_str()) != 0) return;
    while (!pending_signals_.empty() && signals_.send(wire::Signal{int64_t(args_.vpid), pending_signals_.front()}))
      pending_signals_.pop_front();
  }
}

void ShadowSession::read_signal_replies() {
  // Ok, or why not (the guest is gone, say): nothing the shadow can act on.
  wire::Reply reply;
  std::vector<int> fds;
  while (signals_.receive(reply, fds) == DaemonLink::Got::Reply) close_all(fds);
}

void ShadowSession::begin_exit(int wait_status, int64_t now) {
  exiting_ = true;
  exit_status_ = wait_status;
  exit_at_ = now;
  relay_.close_input();
  events_.close();
  signals_.close();
  pending_signals_.clear();
}

void ShadowSession::run() {
  std::vector<pollfd> set;
  for (;;) {
    int64_t now = monotonic_ms();
    int timeout = -1;
    auto lower = [&timeout](int64_t ms) {
      ms = std::max<int64_t>(ms, 0);
      if (timeout < 0 || ms < timeout) timeout = int(ms);
    };
    if (exiting_) {
      int64_t quiet_end = std::max(exit_at_, relay_.last_output_ms()) + kExitQuietMs;
      if (relay_.outputs_done() || now >= quiet_end || now >= exit_at_ + kExitDrainMs) exit_like(exit_status_);
      lower(std::min(quiet_end, exit_at_ + kExitDrainMs) - now);
    } else {
      if (!committed_ && now >= started_ms_ + kCommitWaitMs)
        lost("was not committed", "no daemon accepted its shadow in time");
      if (phase_ == Phase::Down && now >= retry_at_) connect_events(now);
      if (phase_ == Phase::Down) lower(retry_at_ - now);
      if (!committed_) lower(started_ms_ + kCommitWaitMs - now);
    }

    set.clear();
    set.push_back(pollfd{signal_fd_, POLLIN, 0});
    int events_slot = -1, signals_slot = -1;
    if (events_.is_open()) {
      events_slot = int(set.size());
      set.push_back(pollfd{events_.fd(), short(POLLIN | (events_.wants_write() ? POLLOUT : 0)), 0});
    }
    if (signals_.is_open()) {
      signals_slot = int(set.size());
      set.push_back(pollfd{signals_.fd(), short(POLLIN | (signals_.wants_write() ? POLLOUT : 0)), 0});
    }
    children_.prepare(set);
    relay_.prepare(set, now, timeout);
    if (poll(set.data(), set.size(), timeout) < 0) {
      if (errno != EINTR) {
        dprintf(2, "vproc-shadow: vpid %u: poll: %s\n", args_.vpid, strerror(errno));
        _exit(255);
      }
      continue;
    }
    now = monotonic_ms();

    // Signals first: a SIGCONT that woke the shadow is older than a guest
    // stop it finds waiting on the event connection.
    if (set[0].revents) read_signals();
    if (events_slot >= 0 && set[size_t(events_slot)].revents && events_.is_open()) {
      if (events_.wants_write() && !events_.flush()) {
        events_lost(now);
      } else {
        read_events(now);
      }
    }
    if (signals_slot >= 0 && set[size_t(signals_slot)].revents && signals_.is_open()) {
      if (!signals_.wants_write() || signals_.flush()) read_signal_replies();
    }
    children_.service(set);
    relay_.service(set, now);
  }
}

}  // namespace vproc::shadow
