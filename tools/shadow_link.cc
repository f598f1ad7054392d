#include "shadow_link.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fd_passing.h"

namespace vproc::shadow {

int DaemonLink::open(const char* socket_path) {
  close();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (strlen(socket_path) >= sizeof addr.sun_path) return ENAMETOOLONG;
  strcpy(addr.sun_path, socket_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;  // EAGAIN: the daemon's backlog is full; try again later
    ::close(fd);
    return e;
  }
  fd_ = fd;
  return 0;
}

void DaemonLink::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  in_len_ = 0;
  out_off_ = out_len_ = 0;
  for (int fd : in_fds_) ::close(fd);
  in_fds_.clear();
}

bool DaemonLink::send(const wire::Request& req) {
  if (fd_ < 0) return false;
  if (out_off_ == out_len_) out_off_ = out_len_ = 0;
  if (out_off_ > 0) {
    memmove(out_, out_ + out_off_, out_len_ - out_off_);
    out_len_ -= out_off_;
    out_off_ = 0;
  }
  alignas(8) char frame[wire::kRequestFrameBytes];
  size_t n = wire::encode(req, frame, sizeof frame);
  // A daemon that reads nothing for a whole buffer of requests is as good as gone.
  if (n == 0 || n > sizeof out_ - out_len_) {
    close();
    return false;
  }
  memcpy(out_ + out_len_, frame, n);
  out_len_ += n;
  return flush();
}

bool DaemonLink::flush() {
  while (fd_ >= 0 && out_off_ < out_len_) {
    ssize_t n = ::send(fd_, out_ + out_off_, out_len_ - out_off_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_off_ += size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    } else {
      close();
      return false;
    }
  }
  return fd_ >= 0;
}

DaemonLink::Got DaemonLink::broke() {
  close();
  return Got::Closed;
}

DaemonLink::Got DaemonLink::take_frame(wire::Reply& out, std::vector<int>& fds) {
  size_t size = wire::frame_size(in_, in_len_);
  if (size == SIZE_MAX || size > sizeof in_) return broke();
  if (size == 0 || in_len_ < size) return Got::Nothing;
  if (!wire::decode(in_, size, out)) return broke();
  memmove(in_, in_ + size, in_len_ - size);  // keeps the next frame 8-byte aligned
  in_len_ -= size;
  fds = std::move(in_fds_);
  in_fds_.clear();
  return Got::Reply;
}

DaemonLink::Got DaemonLink::receive(wire::Reply& out, std::vector<int>& fds) {
  fds.clear();
  if (fd_ < 0) return Got::Closed;
  for (;;) {
    Got g = take_frame(out, fds);
    if (g != Got::Nothing) return g;
    bool truncated = false;
    ssize_t n = recv_with_fds(fd_, in_ + in_len_, sizeof in_ - in_len_, in_fds_, &truncated);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Got::Nothing;
    // Descriptors the kernel could not pass (MSG_CTRUNC) would leave a reply
    // with fewer sockets than it names: a broken connection, like a bad frame.
    if (n <= 0 || truncated) return broke();
    in_len_ += size_t(n);
  }
}

}  // namespace vproc::shadow
