#include "cluster.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "peer_connect.h"
#include "peer_socket.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

// Unauthenticated connections we hold at once; more are refused at accept.
constexpr size_t kMaxHandshakes = 64;

}  // namespace

struct Cluster::Pending {
  Cluster* owner = nullptr;
  uint64_t id = 0;
  uint32_t node = 0;
  double timeout_s = 0;
  ReplyCallback done;
  Frame frame;              // until sent
  uint64_t link = 0;        // the link it was sent on
  bool loopback = false;    // to this node: dispatched from the timer's first run
  Status preset;            // failed before it could be sent: reported from the timer
  ev_timer timer;
};

struct Cluster::Outgoing {
  Cluster* owner = nullptr;
  uint32_t node = 0;
  uint64_t link = 0;        // open or opening control link, 0: none
  bool up = false;
  double backoff = 0;       // seconds; 0: no failure since the last success
  double retry_at = 0;      // ev_now() before which a new attempt is not made
  Status last;              // why the last attempt failed
  std::vector<uint64_t> waiting;  // requests to send once the link is up
  ev_timer retry;           // the next attempt, for requests waiting out a backoff

  void failed(const Status& why, double now) {
    last = Status::failure(EHOSTUNREACH, why.message);
    backoff = backoff ? std::min(backoff * 2, kMaxBackoff) : kMinBackoff;
    retry_at = now + backoff;
  }
};

Cluster::Cluster(struct ev_loop* loop, const ClusterConfig& config, uint32_t self, Logger& log)
    : loop_(loop), config_(config), self_(self), log_(log), outgoing_(config.nodes.size()) {
  for (uint32_t n = 0; n < outgoing_.size(); ++n) {
    outgoing_[n].owner = this;
    outgoing_[n].node = n;
    ev_timer_init(&outgoing_[n].retry, &Cluster::on_retry, 0, 0);
    outgoing_[n].retry.data = &outgoing_[n];
  }
  ev_io_init(&accept_w_, &Cluster::on_accept, -1, EV_READ);
  accept_w_.data = this;
  ev_prepare_init(&prepare_w_, &Cluster::on_prepare);
  prepare_w_.data = this;
  ev_prepare_start(loop_, &prepare_w_);
  ev_unref(loop_);  // the clean-up watcher alone does not keep the loop running
}

Cluster::~Cluster() {
  stop();
  ev_ref(loop_);
  ev_prepare_stop(loop_, &prepare_w_);
}

std::string Cluster::label(uint32_t node) const { return node_label(config_, node); }

Status Cluster::start() {
  Status s = listen_on(config_.nodes[self_], listen_fd_);
  if (!s.ok()) return s;
  ev_io_set(&accept_w_, listen_fd_, EV_READ);
  ev_io_start(loop_, &accept_w_);
  return Status::success();
}

void Cluster::stop() {
  ev_io_stop(loop_, &accept_w_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  for (auto& [id, link] : links_) link->close();
  for (auto& [id, link] : links_) retired_.push_back(std::move(link));
  links_.clear();
  retired_.clear();
  for (Outgoing& o : outgoing_) {
    ev_timer_stop(loop_, &o.retry);
    o.link = 0;
    o.up = false;
    o.backoff = o.retry_at = 0;
    o.last = Status::success();
    o.waiting.clear();
  }
  for (auto& [id, p] : pending_) ev_timer_stop(loop_, &p->timer);
  pending_.clear();  // dropped without their callbacks: their owners are going away too
  handshaking_.clear();
}

// --- requests to other nodes ----------------------------------------------------

void Cluster::request(uint32_t node, double timeout_s, const FillRequest& fill, ReplyCallback done) {
  auto p = std::make_unique<Pending>();
  p->owner = this;
  p->id = ++last_request_id_;
  p->node = node;
  p->timeout_s = timeout_s;
  p->done = std::move(done);
  {
    capnp::MallocMessageBuilder mb;
    auto r = mb.initRoot<peer::PeerRequest>();
    r.setId(p->id);
    fill(r);
    p->frame = to_frame(mb);
  }
  ev_timer_init(&p->timer, &Cluster::on_request_timer, timeout_s, 0);
  p->timer.data = p.get();
  Pending& ref = *p;
  pending_[ref.id] = std::move(p);

  Status why;
  if (node >= node_count()) {
    ref.preset = Status::failure(EINVAL, strf("no node index %u in the cluster", node));
  } else if (node == self_) {
    ref.loopback = true;
  } else if (ensure_link(node, timeout_s, why)) {
    Outgoing& o = outgoing_[node];
    if (o.up) send_pending(ref);
    else o.waiting.push_back(ref.id);
  } else {
    ref.preset = why;
  }
  if (!ref.preset.ok() || ref.loopback) ev_timer_set(&ref.timer, 0, 0);  // from the loop, not from here
  ev_timer_start(loop_, &ref.timer);
}

bool Cluster::ensure_link(uint32_t node, double patience, Status& why) {
  Outgoing& o = outgoing_[node];
  if (o.link) return true;
  double now = ev_now(loop_);
  if (now < o.retry_at) {
    // In a backoff after a failure: wait for the next attempt if it comes in
    // time, else report the last failure at once.
    if (o.retry_at - now >= patience) {
      why = o.last;
      return false;
    }
    if (!ev_is_active(&o.retry)) {
      ev_timer_set(&o.retry, o.retry_at - now, 0);
      ev_timer_start(loop_, &o.retry);
    }
    return true;
  }
  SocketAddress addr;
  int fd = -1;
  Status s = resolve_node(config_.nodes[node], addr);
  if (s.ok()) s = start_connect(addr, fd);
  if (!s.ok()) {
    o.failed(Status::failure(s.err, label(node) + " unreachable: " + s.message), now);
    why = o.last;
    return false;
  }
  auto link = PeerLink::connector(loop_, *this, config_, self_, node, fd, ++last_link_id_);
  o.link = link->id();
  links_[o.link] = std::move(link);
  return true;
}

void Cluster::on_retry(struct ev_loop*, ev_timer* w, int) {
  auto* o = static_cast<Outgoing*>(w->data);
  Cluster* self = o->owner;
  if (o->link || o->waiting.empty()) return;
  Status why;
  if (self->ensure_link(o->node, kMaxBackoff, why)) return;
  std::vector<uint64_t> waiting;
  waiting.swap(o->waiting);
  for (uint64_t id : waiting) self->finish(id, why);
}

void Cluster::send_pending(Pending& p) {
  auto it = links_.find(outgoing_[p.node].link);
  if (it == links_.end()) return;
  it->second->send(p.frame);
  p.link = it->first;
  Frame().swap(p.frame);
}

void Cluster::on_request_timer(struct ev_loop*, ev_timer* w, int) {
  auto* p = static_cast<Pending*>(w->data);
  Cluster* self = p->owner;
  if (!p->preset.ok()) {
    self->finish(p->id, p->preset);
    return;
  }
  if (p->loopback) {
    p->loopback = false;
    ev_timer_set(&p->timer, p->timeout_s, 0);
    ev_timer_start(self->loop_, &p->timer);
    Frame f;
    f.swap(p->frame);
    // The handler may answer at once, which deletes `p`.
    self->dispatch_request(PeerCall{0, 0, self->self_}, f.data(), f.size() * sizeof(uint64_t));
    return;
  }
  const Outgoing& o = self->outgoing_[p->node];
  if (!o.up && !o.link && !o.last.ok()) {  // waited out a backoff in vain
    self->finish(p->id, o.last);
    return;
  }
  std::string label = self->label(p->node);
  self->finish(p->id, o.up ? Status::failure(ETIMEDOUT, strf("%s: no reply within %.1f s", label.c_str(), p->timeout_s))
                           : Status::failure(EHOSTUNREACH, strf("%s unreachable: no connection within %.1f s",
                                                                label.c_str(), p->timeout_s)));
}

void Cluster::finish(uint64_t id, const Status& s, const void* frame, size_t len) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::unique_ptr<Pending> p = std::move(it->second);
  pending_.erase(it);
  ev_timer_stop(loop_, &p->timer);
  if (!s.ok() || !frame) {
    p->done(s, peer::PeerReply::Reader());
    return;
  }
  try {
    FrameMessage msg(frame, len);
    auto r = msg.root<peer::PeerReply>();
    if (r.isError()) {
      auto e = r.getError();
      p->done(Status::failure(e.getErrno() > 0 ? e.getErrno() : EIO, e.getMessage().cStr()), r);
    } else {
      p->done(Status::success(), r);
    }
  } catch (const kj::Exception& e) {
    log_.warning("%s: malformed reply: %s", label(p->node).c_str(), e.getDescription().cStr());
  }
}

// --- requests from other nodes ------------------------------------------------

void Cluster::handle(peer::PeerRequest::Which kind, Handler handler) { handlers_[int(kind)] = std::move(handler); }

void Cluster::dispatch_request(const PeerCall& from, const void* data, size_t len) {
  PeerCall call = from;
  try {
    FrameMessage msg(data, len);
    auto req = msg.root<peer::PeerRequest>();
    call.id = req.getId();
    auto it = handlers_.find(int(req.which()));
    if (it == handlers_.end()) {
      reply_error(call, Status::failure(ENOSYS, strf("node %s does not handle request kind %u",
                                                     name_of(self_).c_str(), unsigned(req.which()))));
      return;
    }
    it->second(call, req);
  } catch (const kj::Exception& e) {
    std::string who = call.link ? label(call.from) : "this node";
    log_.warning("%s: malformed request: %s", who.c_str(), e.getDescription().cStr());
    if (auto l = links_.find(call.link); l != links_.end()) {
      l->second->close();
      retire(*l->second);
    } else if (!call.link) {
      finish(call.id, Status::failure(EPROTO, "malformed request"));
    }
  }
}

void Cluster::reply(const PeerCall& call, const FillReply& fill) {
  capnp::MallocMessageBuilder mb;
  auto r = mb.initRoot<peer::PeerReply>();
  r.setId(call.id);
  fill(r);
  reply_frame(call, to_frame(mb));
}

void Cluster::reply_error(const PeerCall& call, const Status& s) {
  reply(call, [&](peer::PeerReply::Builder r) {
    auto e = r.initError();
    e.setErrno(s.err ? s.err : EIO);
    e.setMessage(s.message);
  });
}

void Cluster::reply_frame(const PeerCall& call, const Frame& frame) {
  if (!call.link) {
    finish(call.id, Status::success(), frame.data(), frame.size() * sizeof(uint64_t));
    return;
  }
  auto it = links_.find(call.link);
  if (it == links_.end() || !it->second->is_up()) {
    log_.event("%s hung up before request %llu was answered", label(call.from).c_str(),
               (unsigned long long)call.id);
    return;
  }
  it->second->send(frame);
}

// --- links ------------------------------------------------------------------

void Cluster::on_accept(struct ev_loop*, ev_io* w, int) { static_cast<Cluster*>(w->data)->accept_peers(); }

void Cluster::accept_peers() {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) log_.error("accepting a peer: %s", strerror(errno));
      return;
    }
    std::string remote = address_text(reinterpret_cast<sockaddr*>(&ss), len);
    if (handshaking_.size() >= kMaxHandshakes) {
      log_.warning("peer %s: refused (%zu handshakes in progress)", remote.c_str(), handshaking_.size());
      ::close(fd);
      continue;
    }
    tune_peer_socket(fd);
    auto link = PeerLink::listener(loop_, *this, config_, self_, fd, remote, ++last_link_id_);
    handshaking_.insert(link->id());
    links_[link->id()] = std::move(link);
  }
}

void Cluster::link_up(PeerLink& link) {
  if (link.role() == PeerLink::Role::Listener) {
    handshaking_.erase(link.id());
    log_.event("%s connected as %s", link.remote().c_str(), label(link.node()).c_str());
    return;
  }
  Outgoing& o = outgoing_[link.node()];
  o.up = true;
  o.backoff = 0;
  o.retry_at = 0;
  log_.event("connected to %s", link.remote().c_str());
  std::vector<uint64_t> waiting;
  waiting.swap(o.waiting);
  for (uint64_t id : waiting)
    if (auto it = pending_.find(id); it != pending_.end()) send_pending(*it->second);
}

void Cluster::link_frame(PeerLink& link, const void* data, size_t len) {
  if (link.role() == PeerLink::Role::Listener) {
    dispatch_request(PeerCall{link.id(), 0, link.node()}, data, len);
    return;
  }
  uint64_t id;
  try {
    FrameMessage msg(data, len);
    id = msg.root<peer::PeerReply>().getId();
  } catch (const kj::Exception& e) {
    log_.warning("%s: malformed reply: %s", link.remote().c_str(), e.getDescription().cStr());
    link.close();
    link_closed(link, Status::failure(EPROTO, link.remote() + ": malformed reply"));
    return;
  }
  auto it = pending_.find(id);
  // Only the node a request went to may answer it.
  if (it == pending_.end() || it->second->link != link.id()) return;  // timed out meanwhile
  finish(id, Status::success(), data, len);
}

void Cluster::link_channel(PeerLink& link, int fd, const void* open, size_t len) {
  handshaking_.erase(link.id());
  retire(link);
  try {
    FrameMessage msg(open, len);
    auto o = msg.root<peer::Open>();
    auto it = channel_hooks_.find(int(o.which()));
    if (it == channel_hooks_.end()) {
      log_.warning("%s: no taker for a connection of kind %u", label(link.node()).c_str(), unsigned(o.which()));
      ::close(fd);
      return;
    }
    int given = fd;
    fd = -1;  // the hook's from here on, even if it throws
    it->second(given, link.node(), o);
  } catch (const kj::Exception& e) {
    log_.warning("%s: malformed Open: %s", label(link.node()).c_str(), e.getDescription().cStr());
    if (fd >= 0) ::close(fd);
  }
}

void Cluster::link_closed(PeerLink& link, const Status& why) {
  if (link.role() == PeerLink::Role::Listener) {
    bool in_handshake = handshaking_.erase(link.id()) > 0;
    if (in_handshake) log_.warning("%s", why.message.c_str());
    else log_.event("%s (%s)", why.message.c_str(), label(link.node()).c_str());
    retire(link);
    return;
  }
  uint32_t node = link.node();
  Outgoing& o = outgoing_[node];
  bool was_up = o.up;
  o.link = 0;
  o.up = false;
  if (was_up) {
    o.backoff = 0;
    o.retry_at = 0;  // the next request reconnects at once
    log_.event("%s", why.message.c_str());
    // Later, from the loop: the hook may make requests of its own.
    if (link_lost_) lost_nodes_.push_back(node);
  } else {
    o.failed(why, ev_now(loop_));
    if (why.err == EACCES || why.err == EPROTO)  // a misconfiguration, not a node that is down
      log_.warning("%s", why.message.c_str());
    else
      log_.event("%s", why.message.c_str());
  }
  o.waiting.clear();
  std::vector<uint64_t> failed;
  for (auto& [id, p] : pending_)
    if (p->node == node && !p->loopback && p->preset.ok()) failed.push_back(id);
  retire(link);
  Status lost = Status::failure(EHOSTUNREACH, why.message);
  for (uint64_t id : failed) finish(id, lost);
}

void Cluster::retire(PeerLink& link) {
  auto it = links_.find(link.id());
  if (it == links_.end()) return;
  retired_.push_back(std::move(it->second));
  links_.erase(it);
}

void Cluster::on_prepare(struct ev_loop*, ev_prepare* w, int) {
  Cluster& c = *static_cast<Cluster*>(w->data);
  c.retired_.clear();
  std::vector<uint32_t> lost = std::move(c.lost_nodes_);
  c.lost_nodes_.clear();
  for (uint32_t node : lost)
    if (c.link_lost_) c.link_lost_(node);
}

// --- channels ---------------------------------------------------------------------

void Cluster::on_channel(peer::Open::Which kind, ChannelHook hook) { channel_hooks_[int(kind)] = std::move(hook); }

Status Cluster::open_channel(uint32_t node, const FillOpen& fill, int timeout_ms, int& fd_out) const {
  capnp::MallocMessageBuilder mb;
  fill(mb.initRoot<peer::Open>());
  return connect_and_authenticate(config_, self_, node, to_frame(mb), timeout_ms, fd_out);
}

}  // namespace vproc::daemon
