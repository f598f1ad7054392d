// The home node's side of migrated processes' shadows (docs/cluster.md,
// "Migration", steps 4-6).
//
// After its first migration a process (vpid V, real pid R on this node) execs
// vproc-shadow in place: same pid, same start time, same parent. The shadow
// says ShadowHello{V, migration, target}, the migration's commit point (the
// commit hook decides), then keeps one ShadowWait outstanding; each is answered
// with the next event for it: the guest's stdio sockets (passed with
// SCM_RIGHTS), its exit, stop or continue. Events wait here, in order, while no
// ShadowWait is outstanding, e.g. while the shadow reconnects.
//
// A shadow is known from an accepted Hello until its process exits. If it exits
// without having been told that the guest exited (killed, say), the gone hook
// fires: the guest must not outlive the process its parent waits for. Its
// connection closing is not the end: it reconnects and says Hello again.
//
// Stops and continues (docs/cluster.md; shadow_stops.cc). The parent waits
// for the shadow, so the shadow stops when the guest stops (a Stopped event:
// it stops itself with the same signal) and runs when the guest runs. A
// stopped shadow runs no code, so this side does what it cannot:
// * it continues the shadow (SIGCONT with kShadowWakeValue, which the shadow
//   does not forward) when the guest continues, or exits, while the shadow is
//   stopped as its mirror; it kills it when the guest is killed by SIGKILL;
// * it looks at every shadow's state every kPollMs; a shadow stopped for no
//   reason it knows (no Stopped event sent since its last ShadowWait) was
//   stopped by SIGSTOP, from its shell, say: the guest gets SIGSTOP too. The
//   shadow forwards the SIGCONT that ends such a stop itself.
// * the guest's stop that answers a SIGSTOP passed on, and its continue that
//   answers a SIGCONT the shadow forwarded, are echoes: the shadow is not told
//   (or continued) again. Nor is it told of a stop while it is stopped.
// Stops and continues closer together than a round trip to the guest's node
// may show the parent an extra stop and continue; the states agree in the
// end.
#pragma once

#include <ev.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "credentials.h"
#include "logger.h"
#include "process_table.h"
#include "status.h"
#include "wire.h"

namespace vproc::daemon {

class Server;

class ShadowService {
 public:
  // Decides a shadow's Hello (the commit point); its error is the reply. Called
  // again when a shadow re-registers after the daemon restarted, and when a
  // different migration is named: it must accept a repeated Hello for the
  // migration it committed. It may push events for `vpid` (channels) already.
  using CommitHook = std::function<Status(VPid vpid, uint64_t migration, uint32_t target)>;
  // The shadow of `vpid` exited without having been told the guest exited.
  using GoneHook = std::function<void(VPid vpid)>;
  // Delivers a signal for `vpid` to its guest (where it runs now).
  using SignalHook = std::function<Status(const Peer& caller, VPid vpid, int signo)>;

  ShadowService(struct ev_loop* loop, const ProcessTable& table, Logger& log);
  ~ShadowService();
  ShadowService(const ShadowService&) = delete;
  ShadowService& operator=(const ShadowService&) = delete;

  // Where deferred replies go; before any request.
  void attach(Server& server) { server_ = &server; }
  void set_commit(CommitHook hook) { commit_ = std::move(hook); }
  void set_on_gone(GoneHook hook) { gone_ = std::move(hook); }
  void set_signal_guest(SignalHook hook) { signal_guest_ = std::move(hook); }

  // --- requests (RequestDispatch); `conn` names the client connection ---
  // The peer must be the process the record of m.vpid names (real pid and
  // start time). Errors: EINVAL, ESRCH, EPERM, ENOSYS (no commit hook), or the
  // commit hook's.
  Status hello(const Peer& peer, const wire::ShadowHello& m);
  // Success: the reply is deferred, sent with the next event. Errors: ESRCH
  // (no shadow for it: say Hello first), EPERM (not the shadow).
  Status wait(const Peer& peer, const wire::ShadowWait& m, uint64_t conn);
  // A Signal{vpid > 0} for a vpid that has a shadow: to the guest (the signal
  // hook), never to the shadow, which forwards what it gets here.
  // Errors: ENOSYS without a signal hook, or the hook's.
  Status signal_guest(const Peer& caller, VPid vpid, int signo);

  // --- events for the shadow of `vpid`; ESRCH when it has none ---
  // New stdio sockets: `fds` (owned from now on, closed on failure) stand for
  // the guest's fds named by the bits of `fd_mask` (bit 0: fd 0 ...), in order;
  // bit 3: the previous copy's unread stdin (migration_stdin.h). EINVAL if
  // they do not match.
  Status push_channels(VPid vpid, std::vector<int> fds, uint8_t fd_mask);
  // The guest exited with this wait status (the shadow exits the same way).
  Status push_exited(VPid vpid, int wait_status);
  // The guest stopped with `signo` / continued (shadow_stops.cc).
  Status push_stopped(VPid vpid, int signo);
  Status push_continued(VPid vpid);

  static constexpr double kPollMs = 50;

  // A shadow that is not registered (this daemon restarted) but stopped
  // cannot say Hello again: true if the process with this pid and start time
  // is stopped. wake() continues it without its forwarding the SIGCONT.
  static bool is_stopped(RealPid pid, uint64_t start_ticks);
  static void wake(RealPid pid);

  bool has_shadow(VPid vpid) const { return shadows_.count(vpid.value) != 0; }
  size_t size() const { return shadows_.size(); }

 private:
  struct Event {
    wire::ShadowEvent event;
    std::vector<int> fds;
  };
  struct Shadow {
    ShadowService* owner = nullptr;
    VPid vpid;
    RealPid real;
    uint64_t start_ticks = 0;
    uint64_t migration = 0;
    uint32_t target = 0;
    uint64_t waiting = 0;      // the connection whose ShadowWait is outstanding; 0: none
    std::deque<Event> events;  // not yet sent
    bool exit_pushed = false;  // it knows (or will) that the guest exited
    int pidfd = -1;            // readable once the shadow process has exited
    ev_io exit_watcher;
    // Stops (shadow_stops.cc).
    Peer peer;                 // the shadow, as the sender of a SIGSTOP it passes on
    bool stop_sent = false;    // a Stopped event went out since its last ShadowWait
    enum class Owed { Nothing, Continue, Kill } owed = Owed::Nothing;  // once it is stopped
    bool stop_passed = false;  // this stop of the shadow was passed on to the guest
    // The guest's next report is the answer to a signal from here: its stop
    // after a SIGSTOP passed on, its continue after a SIGCONT the shadow
    // forwarded. Neither is news to the shadow.
    bool stop_echo = false, cont_echo = false;
  };

  static void on_exit(struct ev_loop* loop, ev_io* w, int revents);
  static void on_kick(struct ev_loop* loop, ev_timer* w, int revents);
  static void on_poll(struct ev_loop* loop, ev_timer* w, int revents);
  // Stops (shadow_stops.cc): what to do now that the shadow is in this state.
  void check_stop(Shadow& s);
  void owe_if_stopped(Shadow& s, Shadow::Owed what);
  void update_poll();
  void kick();
  // Sends queued events to the shadows that wait. From the loop (a zero
  // timer): a deferred reply must not be sent from inside the request that
  // defers it.
  void deliver();
  Status push(VPid vpid, Event e);
  // The peer is the process the record of `vpid` names.
  Status check_peer(const Peer& peer, VPid vpid) const;
  void drop(Shadow& s);

  struct ev_loop* loop_;
  const ProcessTable& table_;
  Logger& log_;
  Server* server_ = nullptr;
  CommitHook commit_;
  GoneHook gone_;
  SignalHook signal_guest_;
  std::unordered_map<uint32_t, std::unique_ptr<Shadow>> shadows_;
  ev_timer kick_;
  ev_timer poll_;
};

}  // namespace vproc::daemon
