#include "transfer_io.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "human_units.h"
#include "strf.h"
#include "transfer_wire.h"
#include "wire.h"

namespace vproc::daemon {
namespace {

// Bytes sent but not yet taken by the peer (TCP: unacknowledged or unsent;
// Unix: not yet read), or -1.
int64_t unsent_bytes(int fd) {
  int n = 0;
  return ioctl(fd, TIOCOUTQ, &n) == 0 ? n : -1;
}

}  // namespace

Status TransferSocket::prepare() {
  int flags = fcntl(fd_, F_GETFL);
  if (flags < 0 || fcntl(fd_, F_SETFL, flags | O_NONBLOCK) != 0)
    return Status::failure(errno, strf("cannot make the connection non-blocking: %s", strerror(errno)));
  int domain = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd_, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
    return Status::failure(errno, strf("not a socket: %s", strerror(errno)));
  // Setting a buffer size turns the kernel's autotuning off for it. The
  // FORCE variants (root) are not capped by net.core.[rw]mem_max.
  if (tuning_.sndbuf > 0 && setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &tuning_.sndbuf, sizeof tuning_.sndbuf) != 0)
    setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &tuning_.sndbuf, sizeof tuning_.sndbuf);
  if (tuning_.rcvbuf > 0 && setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &tuning_.rcvbuf, sizeof tuning_.rcvbuf) != 0)
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &tuning_.rcvbuf, sizeof tuning_.rcvbuf);
  if (domain == AF_INET || domain == AF_INET6) {
    unsigned t = tuning_.tcp_user_timeout_ms;
    if (t && setsockopt(fd_, IPPROTO_TCP, TCP_USER_TIMEOUT, &t, sizeof t) != 0)
      return Status::failure(errno, strf("cannot set TCP_USER_TIMEOUT: %s", strerror(errno)));
    int one = 1;  // the small frames go out at once
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return Status::success();
}

Status TransferSocket::failure(int err, std::string message) const {
  if (cancelled()) return Status::failure(ECANCELED, "the transfer was cancelled");
  return Status::failure(err, std::move(message));
}

Status TransferSocket::wait(short events, short& revents) {
  int64_t queued = (events & POLLOUT) ? unsent_bytes(fd_) : -1;
  for (;;) {
    if (cancelled()) return failure(ECANCELED, "");
    pollfd p{fd_, events, 0};
    int r = poll(&p, 1, tuning_.stall_ms);
    if (r > 0) {
      revents = p.revents;
      if (cancelled()) return failure(ECANCELED, "");
      return Status::success();
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return failure(errno, strf("poll: %s", strerror(errno)));
    // A full send queue is writable again only once half of it has gone: on a
    // slow link that takes a while, but the queue shrinking is progress.
    int64_t now = queued >= 0 ? unsent_bytes(fd_) : -1;
    if (now >= 0 && now < queued) {
      queued = now;
      continue;
    }
    return failure(ETIMEDOUT, strf("no progress for %s (the peer or the network is stuck)",
                                   human_duration(uint64_t(tuning_.stall_ms) * 1000000).c_str()));
  }
}

Status TransferSocket::write_all(const void* buf, size_t len) {
  auto* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = send(fd_, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return failure(errno, strf("send: %s", strerror(errno)));
    short rev = 0;
    if (Status s = wait(POLLOUT, rev); !s.ok()) return s;
  }
  return Status::success();
}

Status TransferSocket::read_frame(std::vector<uint64_t>& out, const char* what) {
  out.assign(1, 0);
  size_t have = 0, want = 8;
  for (;;) {
    while (have < want) {
      ssize_t n = recv(fd_, reinterpret_cast<char*>(out.data()) + have, want - have, 0);
      if (n > 0) {
        have += size_t(n);
        continue;
      }
      if (n == 0) return failure(EPIPE, strf("the connection was closed before the %s", what));
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return failure(errno, strf("reading the %s: %s", what, strerror(errno)));
      short rev = 0;
      if (Status s = wait(POLLIN, rev); !s.ok()) return s;
    }
    size_t total = wire::frame_size(out.data(), have);
    if (total == SIZE_MAX || total % 8 != 0 || total > kMaxTransferFrameBytes)
      return Status::failure(EPROTO, strf("malformed %s (bad frame header)", what));
    if (total != 0 && have == total) return Status::success();
    want = total == 0 ? have + 8 : total;
    out.resize(want / 8);
  }
}

void TransferSocket::cancel() {
  cancelled_.store(true, std::memory_order_release);
  shutdown(fd_, SHUT_RDWR);
}

std::string progress_text(uint64_t done, uint64_t total) { return human_bytes(done) + " of " + human_bytes(total); }

}  // namespace vproc::daemon
