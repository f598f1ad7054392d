#include "peer_link.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "peer.capnp.h"
#include "peer_connect.h"
#include "peer_socket.h"
#include "strf.h"

namespace vproc::daemon {

PeerLink::PeerLink(struct ev_loop* loop, PeerLinkOwner& owner, const ClusterConfig& config, Role role, int fd,
                   uint64_t id)
    : loop_(loop), owner_(owner), config_(config), role_(role), fd_(fd), id_(id),
      state_(role == Role::Connector ? State::Connecting : State::AwaitHello) {
  ev_io_init(&read_w_, &PeerLink::on_io, fd, EV_READ);
  ev_io_init(&write_w_, &PeerLink::on_io, fd, EV_WRITE);
  ev_timer_init(&handshake_timer_, &PeerLink::on_timeout, kHandshakeSeconds, 0);
  read_w_.data = write_w_.data = handshake_timer_.data = this;
  ev_timer_start(loop_, &handshake_timer_);
}

std::unique_ptr<PeerLink> PeerLink::connector(struct ev_loop* loop, PeerLinkOwner& owner, const ClusterConfig& config,
                                              uint32_t self, uint32_t node, int fd, uint64_t id) {
  std::unique_ptr<PeerLink> l(new PeerLink(loop, owner, config, Role::Connector, fd, id));
  l->node_ = node;
  l->remote_ = node_label(config, node);
  l->connector_hs_ = std::make_unique<ConnectorHandshake>(config, self, node);
  ev_io_start(loop, &l->write_w_);  // writable = the connect finished
  return l;
}

std::unique_ptr<PeerLink> PeerLink::listener(struct ev_loop* loop, PeerLinkOwner& owner, const ClusterConfig& config,
                                             uint32_t self, int fd, std::string remote, uint64_t id) {
  std::unique_ptr<PeerLink> l(new PeerLink(loop, owner, config, Role::Listener, fd, id));
  l->remote_ = "peer " + remote;
  l->listener_hs_ = std::make_unique<ListenerHandshake>(config, self);
  ev_io_start(loop, &l->read_w_);
  return l;
}

PeerLink::~PeerLink() { close(); }

void PeerLink::close() {
  if (state_ == State::Closed) return;
  ev_io_stop(loop_, &read_w_);
  ev_io_stop(loop_, &write_w_);
  ev_timer_stop(loop_, &handshake_timer_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  state_ = State::Closed;
}

void PeerLink::fail(const Status& why) {
  if (state_ == State::Closed) return;
  close();
  owner_.link_closed(*this, why);
}

void PeerLink::on_io(struct ev_loop*, ev_io* w, int revents) {
  auto* self = static_cast<PeerLink*>(w->data);
  if ((revents & EV_WRITE) && !self->is_closed()) self->writable();
  if ((revents & EV_READ) && !self->is_closed()) self->readable();
}

void PeerLink::on_timeout(struct ev_loop*, ev_timer* w, int) {
  auto* self = static_cast<PeerLink*>(w->data);
  if (self->role_ == Role::Connector)
    self->fail(Status::failure(ETIMEDOUT, self->remote_ + (self->state_ == State::Connecting
                                                                ? " unreachable: connection timed out"
                                                                : ": the handshake timed out")));
  else
    self->fail(Status::failure(ETIMEDOUT, self->remote_ + ": the handshake timed out"));
}

void PeerLink::send(const Frame& frame) {
  if (state_ != State::Up) return;
  queue(frame);
}

void PeerLink::queue(const Frame& frame) {
  const char* p = reinterpret_cast<const char*>(frame.data());
  out_.insert(out_.end(), p, p + frame.size() * sizeof(uint64_t));
  // Written from the loop (writable()), never from inside the caller: a write
  // error then closes the link in a callback of its own.
  update_write_watch();
}

void PeerLink::update_write_watch() {
  if (state_ == State::Closed || state_ == State::Connecting) return;
  if (out_.size() > out_off_) ev_io_start(loop_, &write_w_);
  else ev_io_stop(loop_, &write_w_);
}

void PeerLink::writable() {
  if (state_ == State::Connecting) {
    if (int e = connect_result(fd_)) {
      fail(Status::failure(e, remote_ + " unreachable: " + strerror(e)));
      return;
    }
    state_ = State::AwaitChallenge;
    ev_io_start(loop_, &read_w_);
    queue(connector_hs_->hello());
  }
  flush();
}

void PeerLink::flush() {
  while (out_off_ < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      out_off_ += size_t(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    int e = errno;
    fail(Status::failure(e, remote_ + ": " + (e == EPIPE || e == ECONNRESET ? "connection lost" : strerror(e))));
    return;
  }
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  } else if (out_.size() - out_off_ > kMaxQueuedBytes) {
    fail(Status::failure(ENOBUFS, remote_ + ": does not read what we send"));
    return;
  }
  update_write_watch();
}

void PeerLink::readable() {
  // A bounded number of reads per wakeup keeps one busy peer from starving the rest.
  for (int i = 0; i < 16; ++i) {
    int err = 0;
    FrameBuffer::Read r = in_.fill(fd_, state_ != State::Up, err);
    if (r == FrameBuffer::Read::WouldBlock) return;
    if (r == FrameBuffer::Read::Data) {
      if (!handle_frames()) return;
      continue;
    }
    if (r == FrameBuffer::Read::Eof) {
      // A peer that rejects the other's proof closes the connection: that is
      // how each side learns the handshake failed.
      const char* why = state_ == State::Up ? "connection closed"
                        : state_ == State::AwaitWelcome
                            ? "authentication failed (it closed the connection: do the secrets differ?)"
                        : state_ == State::AwaitProof
                            ? "authentication failed (it rejected our proof: do the secrets differ?)"
                            : "closed the connection during the handshake";
      fail(Status::failure(ECONNRESET, remote_ + ": " + why));
    } else {
      fail(Status::failure(err, remote_ + ": " + (err == ECONNRESET ? "connection lost" : strerror(err))));
    }
    return;
  }
}

bool PeerLink::handle_frames() {
  for (;;) {
    const void* data = nullptr;
    size_t len = 0;
    size_t max = state_ == State::Up ? kMaxFrameBytes : kMaxHandshakeFrameBytes;
    FrameBuffer::Next n = in_.next(max, data, len);
    if (n == FrameBuffer::Next::Incomplete) return true;
    if (n == FrameBuffer::Next::Bad) {
      fail(Status::failure(EPROTO, remote_ + ": invalid or oversized frame"));
      return false;
    }
    if (state_ == State::Up) {
      owner_.link_frame(*this, data, len);
    } else if (!handle_handshake_frame(data, len)) {
      return false;
    }
    if (is_closed()) return false;
    in_.consume(len);
  }
}

bool PeerLink::handle_handshake_frame(const void* data, size_t len) {
  Frame out;
  Status s;
  switch (state_) {
    case State::AwaitChallenge:
      s = connector_hs_->on_challenge(data, len, out);
      if (!s.ok()) break;
      queue(out);
      {
        capnp::MallocMessageBuilder mb;
        mb.initRoot<peer::Open>().setControl();
        queue(to_frame(mb));
      }
      state_ = State::AwaitWelcome;
      return true;
    case State::AwaitWelcome:
      s = connector_hs_->on_welcome(data, len);
      if (!s.ok()) break;
      state_ = State::Up;
      ev_timer_stop(loop_, &handshake_timer_);
      owner_.link_up(*this);
      return !is_closed();
    case State::AwaitHello:
      s = listener_hs_->on_hello(data, len, out);
      if (!s.ok()) {
        // Tell it why (version, cluster file) on a best-effort basis, then close.
        ::send(fd_, out.data(), out.size() * sizeof(uint64_t), MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
      }
      node_ = listener_hs_->peer_node();
      queue(out);
      state_ = State::AwaitProof;
      return true;
    case State::AwaitProof:
      s = listener_hs_->on_proof(data, len, out);
      if (!s.ok()) break;
      queue(out);
      state_ = State::AwaitOpen;
      return true;
    case State::AwaitOpen: {
      peer::Open::Which kind;
      try {
        FrameMessage msg(data, len);
        kind = msg.root<peer::Open>().which();
      } catch (const kj::Exception&) {
        s = Status::failure(EPROTO, "malformed Open");
        break;
      }
      if (kind == peer::Open::CONTROL) {
        state_ = State::Up;
        ev_timer_stop(loop_, &handshake_timer_);
        owner_.link_up(*this);
        return !is_closed();
      }
      if (kind != peer::Open::IMAGE && kind != peer::Open::STDIO) {
        s = Status::failure(EPROTO, strf("unknown connection kind %u", unsigned(kind)));
        break;
      }
      // The welcome must be out before the socket changes hands (it is a few
      // bytes into an empty socket buffer: one send takes it).
      size_t left = out_.size() - out_off_;
      if (left && ::send(fd_, out_.data() + out_off_, left, MSG_DONTWAIT | MSG_NOSIGNAL) != ssize_t(left)) {
        s = Status::failure(EIO, "cannot send the welcome");
        break;
      }
      int fd = fd_;
      fd_ = -1;
      close();
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      owner_.link_channel(*this, fd, data, len);
      return false;
    }
    default:
      s = Status::failure(EPROTO, "unexpected frame");
  }
  fail(Status::failure(s.err, remote_ + ": " + s.message));
  return false;
}

}  // namespace vproc::daemon
