// Children left behind by a migrated parent (docs/cluster.md, "Children left
// behind").
//
// When a process with children migrates, the children stay where they are,
// kernel children of its shadow (the original pid, exec'd into vproc-shadow),
// which waits for them (waitid: exits, stops, continues) and reports each
// change to its daemon (ChildReport). (A guest that moves on with children of
// its own stays behind as their parent in the same way: ckpt_migrate.h.) The
// guest, wherever it runs, has one stand-in process per such child
// (vproc-shadow --child): a real child of the guest that mirrors the remote
// child's state, so the kernel gives the guest its wait statuses and SIGCHLD.
// A stand-in long-polls its own daemon (ChildWait{parent, child, seq}), which
// asks the child's home node: where the child was forked, which is where its
// kernel parent stayed.
//
// That node keeps, per (parent, child), the latest state and a sequence
// number; a wait is answered as soon as the state is newer than the asker's
// seq, or unchanged after kHoldSeconds (the asker then asks again). A stand-in
// restored elsewhere after the guest's next migration starts at seq 0 and so
// is told the current state at once: nothing depends on where the guest runs.
#pragma once

#include <ev.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "credentials.h"
#include "logger.h"
#include "process_table.h"
#include "status.h"
#include "wire.h"

namespace vproc::daemon {

class Cluster;

class ChildRelay {
 public:
  // A waiting request is answered "unchanged" after this long; a request to
  // another node gives up a little later.
  static constexpr double kHoldSeconds = 20, kPeerTimeout = 30;

  using ReplyLater = std::function<bool(uint64_t conn, const wire::Reply& reply)>;

  ChildRelay(struct ev_loop* loop, const ProcessTable& table, Logger& log, ReplyLater reply_later);
  ~ChildRelay();
  ChildRelay(const ChildRelay&) = delete;
  ChildRelay& operator=(const ChildRelay&) = delete;

  // With --cluster: answers other nodes' ChildWait, and sends ours for parents
  // whose home is elsewhere.
  void serve(Cluster& cluster);

  // From the kernel parent of m.child (a real pid), which stands in for vpid
  // m.parent here: that child changed. Errors: ESRCH (not a process under
  // vproc here whose parent is m.parent), EPERM (the peer is not its parent).
  Status report(const Peer& peer, const wire::ChildReport& m);
  // From a stand-in: true if the reply is deferred (it comes through
  // reply_later), else `reply` holds it.
  bool wait(const Peer& peer, const wire::ChildWait& m, uint64_t conn, wire::Reply& reply);

  size_t known() const { return states_.size(); }

 private:
  struct State {
    uint32_t seq = 0;
    uint8_t kind = 0;
    int32_t status = 0;
  };
  using Answer = std::function<void(const State&)>;
  struct Waiter {
    ChildRelay* owner = nullptr;
    uint64_t id = 0, key = 0;
    uint32_t seq = 0;
    Answer answer;
    ev_timer timer;
  };

  static uint64_t key_of(uint32_t parent, uint32_t child) { return uint64_t(parent) << 32 | child; }
  static void on_hold(struct ev_loop* loop, ev_timer* w, int revents);
  // Answers at once if the state is newer than `seq`, else when it changes
  // or after kHoldSeconds.
  void add_waiter(uint64_t key, uint32_t seq, Answer answer);
  void finish(Waiter& w);
  void wake(uint64_t key);

  struct ev_loop* loop_;
  const ProcessTable& table_;
  Logger& log_;
  ReplyLater reply_later_;
  Cluster* cluster_ = nullptr;
  std::unordered_map<uint64_t, State> states_;
  std::unordered_map<uint64_t, std::unique_ptr<Waiter>> waiters_;
  uint64_t next_id_ = 1;
};

}  // namespace vproc::daemon
