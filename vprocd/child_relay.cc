#include "child_relay.h"

#include <cerrno>

#include "cluster.h"
#include "proc_stat.h"
#include "strf.h"
#include "vpid_space.h"

namespace vproc::daemon {

ChildRelay::ChildRelay(struct ev_loop* loop, const ProcessTable& table, Logger& log, ReplyLater reply_later)
    : loop_(loop), table_(table), log_(log), reply_later_(std::move(reply_later)) {}

ChildRelay::~ChildRelay() {
  for (auto& [id, w] : waiters_) ev_timer_stop(loop_, &w->timer);
}

void ChildRelay::serve(Cluster& cluster) {
  cluster_ = &cluster;
  cluster.handle(peer::PeerRequest::CHILD_WAIT, [this](const PeerCall& call, peer::PeerRequest::Reader req) {
    auto r = req.getChildWait();
    Cluster* c = cluster_;
    add_waiter(key_of(r.getParent(), r.getChild()), r.getSeq(), [c, call](const State& st) {
      c->reply(call, [&](peer::PeerReply::Builder b) {
        auto s = b.initChildState();
        s.setSeq(st.seq);
        s.setKind(st.kind);
        s.setStatus(st.status);
      });
    });
  });
}

Status ChildRelay::report(const Peer& peer, const wire::ChildReport& m) {
  // The reporter is the child's kernel parent: the shadow at the parent's
  // home node, or a guest that moved on with children of its own and lingers
  // as their parent (ckpt_migrate.h). The child is still there to ask (an
  // exit is reported before the zombie is reaped).
  const ProcessRecord* child = table_.find_real(RealPid{m.child});
  if (!child || child->thread || child->parent != m.parent)
    return Status::failure(ESRCH, strf("pid %u is not a child of vpid %u under vproc", m.child, m.parent));
  ProcStat st;
  if (!read_proc_stat(RealPid{m.child}, st) || st.ppid != peer.pid.value)
    return Status::failure(EPERM, strf("pid %u is not the parent of pid %u", peer.pid.value, m.child));
  uint64_t key = key_of(m.parent, child->vpid.value);
  State& cur = states_[key];
  // A repeated report (the shadow reconnected before its answer came) is no
  // new state: a stand-in must not stop twice for one stop.
  if (cur.seq && cur.kind == uint8_t(m.kind) && cur.status == m.status) return Status::success();
  cur.seq += 1;
  cur.kind = uint8_t(m.kind);
  cur.status = m.status;
  log_.event("vpid %u's child %u (pid %u): %s %d", m.parent, child->vpid.value, m.child,
             m.kind == wire::GuestChange::Exited    ? "exited, status"
             : m.kind == wire::GuestChange::Stopped ? "stopped by signal"
                                                    : "continued",
             m.status);
  wake(key);
  return Status::success();
}

bool ChildRelay::wait(const Peer& peer, const wire::ChildWait& m, uint64_t conn, wire::Reply& reply) {
  if (!valid_vpid(m.parent) || !valid_vpid(m.child)) {
    wire::Error e{EINVAL, {}};
    e.message.set("ChildWait needs two vpids");
    reply = e;
    return false;
  }
  // Only the parent's user (or root) learns its children's statuses; the
  // stand-in runs as the guest's user.
  if (const ProcessRecord* p = table_.find(VPid{m.parent}); p && peer.uid != 0 && peer.uid != p->uid) {
    wire::Error e{EPERM, {}};
    e.message.set("not the parent's user");
    reply = e;
    return false;
  }
  ReplyLater later = reply_later_;
  // The child's home node: where it was forked, so where its kernel parent
  // (shadow or lingering guest) reports.
  uint32_t home = home_node_of(VPid{m.child});
  if (!cluster_ || home == cluster_->self()) {
    uint64_t key = key_of(m.parent, m.child);
    // Newer already: answered now (a deferred reply must not be sent from
    // inside the request that defers it).
    if (auto it = states_.find(key); it != states_.end() && it->second.seq > m.seq) {
      reply = wire::ChildState{it->second.seq, it->second.kind, it->second.status};
      return false;
    }
    add_waiter(key, m.seq, [later, conn](const State& st) {
      later(conn, wire::ChildState{st.seq, st.kind, st.status});
    });
    return true;
  }
  Logger* log = &log_;
  uint32_t parent = m.parent, child = m.child;
  cluster_->request(home, kPeerTimeout, [&](peer::PeerRequest::Builder b) {
    auto r = b.initChildWait();
    r.setParent(m.parent);
    r.setChild(m.child);
    r.setSeq(m.seq);
  }, [later, conn, log, parent, child](const Status& s, peer::PeerReply::Reader r) {
    if (s.ok() && r.isChildState()) {
      auto c = r.getChildState();
      later(conn, wire::ChildState{c.getSeq(), c.getKind(), c.getStatus()});
      return;
    }
    wire::Error e{s.ok() ? EPROTO : s.err, {}};
    e.message.set(s.ok() ? "unexpected reply" : s.message.c_str());
    if (!s.ok()) log->event("state of vpid %u's child %u: %s", parent, child, s.message.c_str());
    later(conn, e);
  });
  return true;
}

void ChildRelay::add_waiter(uint64_t key, uint32_t seq, Answer answer) {
  auto it = states_.find(key);
  if (it != states_.end() && it->second.seq > seq) return answer(it->second);
  auto w = std::make_unique<Waiter>();
  w->owner = this;
  w->id = next_id_++;
  w->key = key;
  w->seq = seq;
  w->answer = std::move(answer);
  ev_timer_init(&w->timer, &ChildRelay::on_hold, kHoldSeconds, 0.);
  w->timer.data = w.get();
  ev_timer_start(loop_, &w->timer);
  waiters_.emplace(w->id, std::move(w));
}

void ChildRelay::finish(Waiter& w) {
  ev_timer_stop(loop_, &w.timer);
  auto it = states_.find(w.key);
  State st = it != states_.end() ? it->second : State{};
  Answer answer = std::move(w.answer);
  waiters_.erase(w.id);  // destroys `w`
  answer(st);
}

void ChildRelay::on_hold(struct ev_loop*, ev_timer* t, int) {
  auto* w = static_cast<Waiter*>(t->data);
  w->owner->finish(*w);
}

void ChildRelay::wake(uint64_t key) {
  std::vector<uint64_t> due;
  for (auto& [id, w] : waiters_)
    if (w->key == key) due.push_back(id);
  for (uint64_t id : due)
    if (auto it = waiters_.find(id); it != waiters_.end()) finish(*it->second);
}

}  // namespace vproc::daemon
