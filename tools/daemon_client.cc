#include "monotonic.h"
#include "daemon_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tool_error.h"

namespace vproc::tools {
namespace {

// Waits until `fd` is ready for `events` or the deadline passes. False on timeout.
bool wait_ready(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - monotonic_ms();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, int(left));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return true;  // let the following read/write report it
  }
}

std::string seconds(int ms) {
  char buf[32];
  snprintf(buf, sizeof buf, "%g s", ms / 1000.0);
  return buf;
}

}  // namespace

int DaemonClient::connect(const std::string& socket_path, int timeout_ms) {
  close();
  path_ = socket_path;
  timeout_ms_ = timeout_ms;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) return ENAMETOOLONG;
  memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return errno;
  // A Unix-socket connect completes at once or fails with EAGAIN while the
  // listener's backlog is full; poll() cannot wait for that, so retry briefly.
  int64_t deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN && monotonic_ms() < deadline) {
      timespec pause{0, 2'000'000};
      nanosleep(&pause, nullptr);
      continue;
    }
    ::close(fd);
    return e == EAGAIN ? ETIMEDOUT : e;
  }
  fd_ = fd;
  return 0;
}

void DaemonClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void DaemonClient::fail(const std::string& what) const {
  throw DaemonError(what + " (daemon at " + path_ + ")");
}

void DaemonClient::send_frame(const wire::Request& req) {
  if (fd_ < 0) fail("not connected to the vproc daemon");
  alignas(8) char buf[wire::kLargeFrameBytes];
  size_t len = wire::encode(req, buf, sizeof buf);
  if (len == 0) fail("cannot encode the request");
  int64_t deadline = monotonic_ms() + timeout_ms_;
  size_t done = 0;
  while (done < len) {
    ssize_t n = send(fd_, buf + done, len - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += size_t(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_ready(fd_, POLLOUT, deadline))
        fail("the vproc daemon did not accept a request within " + seconds(timeout_ms_));
    } else {
      fail(std::string("cannot send to the vproc daemon: ") + strerror(errno));
    }
  }
}

std::vector<uint64_t> DaemonClient::read_frame(int timeout_ms) {
  std::vector<uint64_t> buf(1);
  size_t have = 0, want = 8;
  int64_t deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    while (have < want) {
      ssize_t n = read(fd_, reinterpret_cast<char*>(buf.data()) + have, want - have);
      if (n > 0) {
        have += size_t(n);
      } else if (n == 0) {
        fail("the vproc daemon closed the connection without replying");
      } else if (errno == EAGAIN || errno == EINTR) {
        if (!wait_ready(fd_, POLLIN, deadline)) fail("no reply from the vproc daemon within " + seconds(timeout_ms));
      } else {
        fail(std::string("cannot read from the vproc daemon: ") + strerror(errno));
      }
    }
    size_t total = wire::frame_size(buf.data(), have);
    if (total == SIZE_MAX || total % 8 != 0) fail("malformed reply from the vproc daemon (bad frame header)");
    if (total != 0 && have == total) return buf;
    // Unknown yet (segment table incomplete): read the next word; known: read the rest.
    want = total == 0 ? have + 8 : total;
    buf.resize(want / 8);
  }
}

wire::Reply DaemonClient::call(const wire::Request& req, int reply_timeout_ms) {
  send_frame(req);
  std::vector<uint64_t> frame = read_frame(reply_timeout_ms > 0 ? reply_timeout_ms : timeout_ms_);
  wire::Reply rep;
  if (!wire::decode(frame.data(), frame.size() * 8, rep) || std::holds_alternative<wire::ListFollows>(rep))
    fail("malformed or unexpected reply from the vproc daemon");
  return rep;
}

std::vector<wire::ProcessEntry> DaemonClient::list(bool threads) {
  send_frame(wire::ListRequest{threads});
  std::vector<uint64_t> frame = read_frame(timeout_ms_);
  size_t len = frame.size() * 8;
  wire::Reply rep;
  if (!wire::decode(frame.data(), len, rep)) fail("malformed reply from the vproc daemon");
  if (auto* e = std::get_if<wire::Error>(&rep)) throw ToolError(2, "the vproc daemon refused the list: " + describe(*e));
  if (!std::holds_alternative<wire::ListFollows>(rep)) fail("unexpected reply to a process list request");
  std::vector<wire::ProcessEntry> out;
  if (!wire::decode_list(frame.data(), len, out)) fail("malformed process list from the vproc daemon");
  return out;
}

wire::ClusterListing DaemonClient::cluster_list(const wire::ClusterQuery& query) {
  send_frame(query);
  std::vector<uint64_t> frame = read_frame(timeout_ms_);
  size_t len = frame.size() * 8;
  wire::Reply rep;
  if (!wire::decode(frame.data(), len, rep)) fail("malformed reply from the vproc daemon");
  if (auto* e = std::get_if<wire::Error>(&rep)) throw ToolError(2, describe(*e));
  if (!std::holds_alternative<wire::ListFollows>(rep)) fail("unexpected reply to a process list request");
  wire::ClusterListing out;
  if (!wire::decode_cluster_list(frame.data(), len, out)) fail("malformed process list from the vproc daemon");
  return out;
}

std::string describe(const wire::Error& e) {
  std::string msg = e.message.s;
  if (e.err > 0) {
    std::string err = strerror(e.err);
    if (msg.empty()) return err;
    if (msg.find(err) == std::string::npos) return msg + " (" + err + ")";
  }
  return msg.empty() ? "unspecified error" : msg;
}

}  // namespace vproc::tools
