// The shadow's life: register with the daemon, relay stdio, forward signals,
// mirror the guest's stops, and end the way the guest ends.
//
// Two connections to the daemon: on the event connection the shadow says
// ShadowHello and then keeps one ShadowWait outstanding, whose reply the daemon
// defers, and a connection's later requests wait behind a deferred reply; so
// the Signal requests that forward its signals go on a second connection.
//
// The daemon going away (a restart) does not end the shadow: the stdio sockets
// do not pass through the daemon, so the relay goes on while it reconnects
// (every 0.1 s, backing off to 1 s), says the same Hello again and waits again.
// Signals that arrive meanwhile are forwarded after the Hello is accepted. Only
// before the first accepted Hello, the migration's commit point, is there a
// limit: if no daemon accepts it within kCommitWaitMs, the migration has been
// given up (its guest is paused and killed after 10 s without a commit), and
// the process is lost. A refused Hello means the same. Either way the shadow
// says so on stderr and dies of SIGKILL, which is what happened to the process:
// its parent sees it killed, not exiting with a code the program might use.
//
// Stops (docs/cluster.md, "Stops and continues"): every catchable signal, ^Z
// and SIGCONT included, is forwarded; the shadow stops when the guest stops
// (a Stopped event), with the same signal, so its parent's wait sees that
// stop; the daemon continues it when the guest continues (with a SIGCONT that
// is not forwarded), and notices when the shadow itself is stopped by SIGSTOP
// (which it cannot catch), and stops the guest.
#pragma once

#include <csignal>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "shadow_children.h"
#include "shadow_link.h"
#include "shadow_relay.h"
#include "shadow_signals.h"

namespace vproc::shadow {

struct ShadowArgs {
  uint32_t vpid = 0;
  uint64_t migration = 0;
  uint32_t target = 0;
};

class ShadowSession {
 public:
  static constexpr int64_t kCommitWaitMs = 30000;
  static constexpr int64_t kRetryFirstMs = 100, kRetryMaxMs = 1000;
  // After the guest exited: its output may still be on the way. The shadow
  // waits for the sockets' ends, for at most kExitDrainMs, and gives up early
  // once nothing moved for kExitQuietMs (the guest's children may keep a
  // socket open).
  static constexpr int64_t kExitDrainMs = 5000, kExitQuietMs = 1000;
  static constexpr size_t kMaxQueuedSignals = 64;

  // `signal_fd`: from take_signals(); `closed_stdio` as StdioRelay's.
  ShadowSession(const ShadowArgs& args, std::string socket_path, int signal_fd, unsigned closed_stdio);
  [[noreturn]] void run();

 private:
  enum class Phase { Down, Hello, Waiting };

  void connect_events(int64_t now);
  void events_lost(int64_t now);
  void read_events(int64_t now);
  void handle_event(const wire::ShadowEvent& ev, std::vector<int>& fds, int64_t now);
  void read_signals();
  void on_signal(const Arrived& a);
  // The guest stopped (with stop_signal_): the shadow stops too, so that
  // its parent sees it. A stopped shadow runs no code: the daemon continues
  // it when the guest continues (shadow_service.h).
  void mirror_stop();
  void send_signals();
  void read_signal_replies();
  void begin_exit(int wait_status, int64_t now);
  [[noreturn]] void lost(const char* why, const char* detail);

  ShadowArgs args_;
  std::string socket_path_;
  int signal_fd_;
  StdioRelay relay_;
  ShadowChildren children_;  // the ones the process left behind
  DaemonLink events_, signals_;
  Phase phase_ = Phase::Down;
  bool committed_ = false;  // a Hello was accepted once
  int64_t started_ms_ = 0;
  int64_t retry_at_ = 0, backoff_ms_ = kRetryFirstMs;
  std::deque<int> pending_signals_;
  int stop_signal_ = SIGSTOP;  // the guest's last stop signal
  bool cont_seen_ = false;     // a SIGCONT to forward came (see mirror_stop)
  bool exiting_ = false;
  int exit_status_ = 0;
  int64_t exit_at_ = 0;
};

}  // namespace vproc::shadow
