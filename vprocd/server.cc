#include "server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wire.h"

namespace vproc::daemon {

Server::Server(struct ev_loop* loop, int listen_fd, RequestDispatch& dispatch, Logger& log)
    : loop_(loop), listen_fd_(listen_fd), dispatch_(dispatch), log_(log) {
  spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ev_io_init(&accept_watcher_, &Server::on_accept, listen_fd_, EV_READ);
  accept_watcher_.data = this;
}

Server::~Server() {
  stop();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (spare_fd_ >= 0) close(spare_fd_);
}

void Server::start() { ev_io_start(loop_, &accept_watcher_); }

void Server::stop() {
  ev_io_stop(loop_, &accept_watcher_);
  std::vector<ClientConnection*> all;
  for (auto& [fd, c] : conns_) all.push_back(c.get());
  for (ClientConnection* c : all) close_connection(*c, nullptr);
  reap_closed();
}

void Server::on_accept(struct ev_loop*, ev_io* w, int) {
  auto* self = static_cast<Server*>(w->data);
  self->accept_clients();
  self->reap_closed();
}

void Server::accept_clients() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if ((errno == EMFILE || errno == ENFILE) && spare_fd_ >= 0) {
        // Out of descriptors: take the client with the spare fd and hang up on
        // it, or the listening socket would stay readable and spin the loop.
        log_.error("out of file descriptors: refusing a client");
        close(spare_fd_);
        int victim = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (victim >= 0) close(victim);
        spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
        return;
      }
      log_.error("accept: %s", strerror(errno));
      return;
    }
    Peer peer;
    Status s = peer_of_socket(fd, peer);
    if (!s.ok()) {
      log_.error("dropping a client: %s", s.message.c_str());
      close(fd);
      continue;
    }
    auto conn = std::make_unique<ClientConnection>(fd, peer);
    ClientConnection* c = conn.get();
    c->owner = this;
    ev_io_init(&c->read_watcher, &Server::on_readable, fd, EV_READ);
    ev_io_init(&c->write_watcher, &Server::on_writable, fd, EV_WRITE);
    c->read_watcher.data = c;
    c->write_watcher.data = c;
    ev_io_start(loop_, &c->read_watcher);
    c->id = ++last_id_;
    conns_[fd] = std::move(conn);
    by_peer_.emplace(peer.pid.value, c);
    by_id_.emplace(c->id, c);
  }
}

void Server::on_readable(struct ev_loop*, ev_io* w, int) {
  auto* c = static_cast<ClientConnection*>(w->data);
  auto* self = static_cast<Server*>(c->owner);
  // A bounded number of reads per wakeup keeps one chatty client from starving
  // the others; the rest waits for the next loop iteration.
  self->service(*c, 16);
  self->reap_closed();
}

void Server::on_writable(struct ev_loop*, ev_io* w, int) {
  auto* c = static_cast<ClientConnection*>(w->data);
  auto* self = static_cast<Server*>(c->owner);
  self->send_output(*c);
  self->reap_closed();
}

void Server::service(ClientConnection& c, int max_reads) {
  // Requests that waited behind a deferred reply (send_later).
  if (c.buffered() && !c.awaiting_reply && !handle_frames(c)) return;
  for (int i = 0; i < max_reads; ++i) {
    int err = 0;
    ClientConnection::ReadStatus st = c.fill(err);
    if (st == ClientConnection::ReadStatus::Data) {
      if (!handle_frames(c)) return;
      continue;
    }
    if (st == ClientConnection::ReadStatus::WouldBlock) break;
    if (st == ClientConnection::ReadStatus::Eof) {
      if (c.buffered()) log_.warning("pid %u hung up in the middle of a message", c.peer().pid.value);
      close_connection(c, nullptr);
      return;
    }
    log_.warning("reading from pid %u: %s", c.peer().pid.value, strerror(err));
    close_connection(c, nullptr);
    return;
  }
  send_output(c);
}

bool Server::handle_frames(ClientConnection& c) {
  c.busy = true;
  bool open = true;
  while (!c.awaiting_reply) {
    const void* data = nullptr;
    size_t len = 0;
    ClientConnection::FrameStatus fs = c.next_frame(data, len);
    if (fs == ClientConnection::FrameStatus::Incomplete) break;
    if (fs == ClientConnection::FrameStatus::Bad) {
      close_connection(c, "invalid frame header");
      open = false;
      break;
    }
    wire::Request req;
    if (!wire::decode(data, len, req)) {
      close_connection(c, "malformed request");
      open = false;
      break;
    }
    c.consume(len);
    // What a process wrote into its ring before this request counts as sent
    // before it (common/spawn_ring.h); rings are read, not woken for.
    if (rings_) rings_->drain_all();
    wire::Reply reply;
    std::vector<uint64_t> list;
    RequestDispatch::Answer a = dispatch_.handle(c.peer(), req, reply, list, c.id);
    if (a == RequestDispatch::Answer::Deferred) {
      c.awaiting_reply = true;
    } else if (a == RequestDispatch::Answer::Small) {
      alignas(8) char buf[wire::kLargeFrameBytes];
      size_t n = wire::encode(reply, buf, sizeof buf);
      if (n == 0) {
        log_.error("internal error: a reply to pid %u did not encode", c.peer().pid.value);
        close_connection(c, nullptr);
        open = false;
        break;
      }
      c.queue(buf, n);
    } else if (a == RequestDispatch::Answer::List) {
      c.queue(list.data(), list.size() * sizeof(uint64_t));
    }
    if (c.queued() > ClientConnection::kMaxQueuedBytes) {
      close_connection(c, "it does not read its replies");
      open = false;
      break;
    }
  }
  c.busy = false;
  // Ring records that waited for this connection (peer_busy) go now.
  if (rings_) rings_->drain_all();
  return open;
}

void Server::send_output(ClientConnection& c) {
  if (c.is_shut()) return;
  int err = 0;
  if (!c.flush(err)) {
    if (err != EPIPE && err != ECONNRESET) log_.warning("writing to pid %u: %s", c.peer().pid.value, strerror(err));
    close_connection(c, nullptr);
    return;
  }
  if (c.queued()) {
    ev_io_start(loop_, &c.write_watcher);
  } else {
    ev_io_stop(loop_, &c.write_watcher);
  }
}

void Server::close_connection(ClientConnection& c, const char* why) {
  if (c.is_shut()) return;
  if (why) log_.warning("closing the connection of pid %u: %s", c.peer().pid.value, why);
  ev_io_stop(loop_, &c.read_watcher);
  ev_io_stop(loop_, &c.write_watcher);
  auto range = by_peer_.equal_range(c.peer().pid.value);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == &c) {
      by_peer_.erase(it);
      break;
    }
  }
  by_id_.erase(c.id);
  int fd = c.fd();
  c.shut();
  auto it = conns_.find(fd);
  if (it != conns_.end()) {
    // Deleted later: a caller up the stack may still hold a reference.
    closed_.push_back(std::move(it->second));
    conns_.erase(it);
  }
}

bool Server::is_open(uint64_t id) const {
  auto it = by_id_.find(id);
  return it != by_id_.end() && !it->second->is_shut();
}

bool Server::send_later(uint64_t id, const wire::Reply& reply, std::vector<int> fds) {
  auto it = by_id_.find(id);
  if (it == by_id_.end() || it->second->is_shut()) {
    for (int fd : fds) close(fd);
    return false;
  }
  ClientConnection& c = *it->second;
  alignas(8) char buf[wire::kLargeFrameBytes];
  size_t n = wire::encode(reply, buf, sizeof buf);
  if (n == 0) {
    log_.error("internal error: a deferred reply to pid %u did not encode", c.peer().pid.value);
    for (int fd : fds) close(fd);
    close_connection(c, nullptr);  // deleted by the next reap_closed()
    return false;
  }
  c.queue(buf, n, std::move(fds));
  c.awaiting_reply = false;
  // Written and continued from the loop: this may run inside another
  // connection's callback (the writer's CheckpointResult), where closing or
  // serving this one is not safe.
  ev_io_start(loop_, &c.write_watcher);
  if (c.buffered()) ev_feed_event(loop_, &c.read_watcher, EV_READ);
  return true;
}

bool Server::send_later_frame(uint64_t id, const std::vector<uint64_t>& frame) {
  auto it = by_id_.find(id);
  if (it == by_id_.end() || it->second->is_shut()) return false;
  ClientConnection& c = *it->second;
  c.queue(frame.data(), frame.size() * sizeof(uint64_t));
  c.awaiting_reply = false;
  ev_io_start(loop_, &c.write_watcher);  // from the loop, as send_later
  if (c.buffered()) ev_feed_event(loop_, &c.read_watcher, EV_READ);
  return true;
}

void Server::reap_closed() {
  if (!draining_) closed_.clear();
}

void Server::drain_all() {
  if (rings_) rings_->drain_all();  // re-entrant (spawn_rings.h), unlike the sockets' drain
  if (draining_) return;
  draining_ = true;
  std::vector<ClientConnection*> all;
  all.reserve(conns_.size());
  for (auto& [fd, c] : conns_)
    if (!c->busy) all.push_back(c.get());
  for (ClientConnection* c : all)
    if (!c->is_shut()) service(*c, kDrainReads);
  draining_ = false;
}

bool Server::peer_busy(RealPid pid) const {
  auto range = by_peer_.equal_range(pid.value);
  for (auto it = range.first; it != range.second; ++it)
    if (it->second->busy) return true;
  return false;
}

void Server::drain_peer(RealPid pid) {
  if (rings_) rings_->drain(pid);
  // Nested too (a Reaped applied inside another drain): the busy flags keep a
  // connection from being handled inside its own handling, and closed ones
  // are kept until no drain runs.
  const bool outer = draining_;
  draining_ = true;
  std::vector<ClientConnection*> mine;
  auto range = by_peer_.equal_range(pid.value);
  for (auto it = range.first; it != range.second; ++it)
    if (!it->second->busy) mine.push_back(it->second);
  for (ClientConnection* c : mine)
    if (!c->is_shut()) service(*c, kDrainReads);
  draining_ = outer;
}

}  // namespace vproc::daemon
