#include "peer_frames.h"

#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "strf.h"
#include "wire.h"

namespace vproc::daemon {

Frame to_frame(capnp::MessageBuilder& mb) {
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(mb);
  Frame out(flat.size());
  memcpy(out.data(), flat.begin(), flat.size() * sizeof(capnp::word));
  return out;
}

capnp::ReaderOptions FrameMessage::options(size_t len) {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = std::max<uint64_t>(len / 8 * 4, 1024);
  o.nestingLimit = 16;
  return o;
}

FrameMessage::FrameMessage(const void* data, size_t len)
    : reader_(kj::arrayPtr(static_cast<const capnp::word*>(data), len / sizeof(capnp::word)), options(len)) {}

size_t frame_bytes_missing(const void* buf, size_t have) {
  if (have < 8) return 8 - have;
  size_t total = wire::frame_size(buf, have);
  if (total == SIZE_MAX) return SIZE_MAX;
  if (total == 0) {
    // The segment table is longer than what we have: it says how long.
    uint64_t segments = uint64_t(static_cast<const uint32_t*>(buf)[0]) + 1;
    return size_t(((segments + 2) & ~uint64_t(1)) * 4) - have;
  }
  return total > have ? total - have : 0;
}

FrameBuffer::Read FrameBuffer::fill(int fd, bool exact, int& err) {
  if (start_ == end_) start_ = end_ = 0;
  size_t cap = words_.size() * 8;
  if (end_ == cap && start_ > 0) {  // frames start at word boundaries: moving keeps them aligned
    char* base = reinterpret_cast<char*>(words_.data());
    memmove(base, base + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  if (end_ == cap) {  // full of one large, incomplete frame: make room
    words_.resize(words_.size() * 2);
    cap = words_.size() * 8;
  }
  size_t want = cap - end_;
  if (exact) {
    size_t missing = frame_bytes_missing(reinterpret_cast<char*>(words_.data()) + start_, end_ - start_);
    if (missing == SIZE_MAX || missing == 0) missing = 8;  // the caller sees Bad / Ready via next()
    want = missing;
  }
  if (end_ + want > cap) {
    // Grow for a big frame (next() has checked its size against the caller's cap).
    words_.resize((end_ + want + 7) / 8 + 64);
  }
  ssize_t n = recv(fd, reinterpret_cast<char*>(words_.data()) + end_, want, MSG_DONTWAIT);
  if (n > 0) {
    end_ += size_t(n);
    return Read::Data;
  }
  if (n == 0) return Read::Eof;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Read::WouldBlock;
  err = errno;
  return Read::Error;
}

FrameBuffer::Next FrameBuffer::next(size_t max_bytes, const void*& data, size_t& len) const {
  const char* p = reinterpret_cast<const char*>(words_.data()) + start_;
  size_t have = end_ - start_;
  if (have < 8) return Next::Incomplete;
  size_t total = wire::frame_size(p, have);
  if (total == SIZE_MAX || total > max_bytes) return Next::Bad;
  if (total == 0) {
    // Segment table still incomplete: it alone may already be too large.
    uint64_t segments = uint64_t(reinterpret_cast<const uint32_t*>(p)[0]) + 1;
    if (((segments + 2) & ~uint64_t(1)) * 4 > max_bytes) return Next::Bad;
    return Next::Incomplete;
  }
  if (have < total) return Next::Incomplete;
  data = p;
  len = total;
  return Next::Ready;
}

void FrameBuffer::consume(size_t len) { start_ += std::min(len, end_ - start_); }

int64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

namespace {

// 0 when fd is ready for `events`, else ETIMEDOUT or poll's errno.
int wait_for(int fd, short events, int64_t deadline_ms) {
  for (;;) {
    int64_t left = deadline_ms - monotonic_ms();
    if (left <= 0) return ETIMEDOUT;
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, int(std::min<int64_t>(left, 60'000)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r > 0) return 0;  // ready, or an error the next call reports
  }
}

}  // namespace

Status send_all(int fd, const void* data, size_t len, int64_t deadline_ms) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= size_t(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (int e = wait_for(fd, POLLOUT, deadline_ms)) return Status::failure(e, strerror(e));
      continue;
    }
    int e = errno;
    return Status::failure(e, strerror(e));
  }
  return Status::success();
}

Status receive_frame(int fd, size_t max_bytes, int64_t deadline_ms, Frame& out) {
  out.assign(1, 0);
  size_t have = 0;
  for (;;) {
    size_t missing = frame_bytes_missing(out.data(), have);
    if (missing == SIZE_MAX || have + missing > max_bytes)
      return Status::failure(EPROTO, "invalid or oversized frame");
    if (missing == 0) return Status::success();
    out.resize((have + missing + 7) / 8);
    ssize_t n = recv(fd, reinterpret_cast<char*>(out.data()) + have, missing, MSG_DONTWAIT);
    if (n > 0) {
      have += size_t(n);
      continue;
    }
    if (n == 0) return Status::failure(ECONNRESET, "connection closed by the peer");
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      if (int e = wait_for(fd, POLLIN, deadline_ms)) return Status::failure(e, strerror(e));
      continue;
    }
    int e = errno;
    return Status::failure(e, strerror(e));
  }
}

}  // namespace vproc::daemon
