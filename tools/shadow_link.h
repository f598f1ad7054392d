// One connection of vproc-shadow to its node daemon: non-blocking (the shadow
// keeps relaying stdio while the daemon is slow or restarting), framed like
// every client connection (common/wire.h), and able to receive the sockets a
// reply carries (SCM_RIGHTS).
//
// The kernel hands passed descriptors over with the first byte of the
// sendmsg() they came with, so a reader cannot tell which frame they belong to
// unless at most one reply is in flight: the shadow's event connection has one
// request outstanding at a time, and descriptors that arrive while a frame is
// read belong to that frame.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "wire.h"

namespace vproc::shadow {

class DaemonLink {
 public:
  DaemonLink() = default;
  DaemonLink(const DaemonLink&) = delete;
  DaemonLink& operator=(const DaemonLink&) = delete;
  ~DaemonLink() { close(); }

  // Connects (a Unix socket connects at once or not at all). 0 or errno.
  int open(const char* socket_path);
  void close();
  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Queues a request and writes what the socket takes now. False if the
  // connection broke (it is closed then).
  bool send(const wire::Request& req);
  bool wants_write() const { return out_off_ < out_len_; }
  // Writes queued bytes; false if the connection broke (closed).
  bool flush();

  enum class Got { Nothing, Reply, Closed };
  // Reads what is there. Reply: `out` is the next reply and `fds` the
  // descriptors that came with it (the caller owns them). Closed: EOF, an
  // error, or a malformed reply (the link is closed).
  Got receive(wire::Reply& out, std::vector<int>& fds);

 private:
  // A whole frame at the start of in_: decodes and consumes it.
  Got take_frame(wire::Reply& out, std::vector<int>& fds);
  Got broke();

  int fd_ = -1;
  alignas(8) char in_[wire::kLargeFrameBytes];
  size_t in_len_ = 0;
  std::vector<int> in_fds_;  // received, not yet handed out with a frame
  alignas(8) char out_[wire::kLargeFrameBytes];
  size_t out_off_ = 0, out_len_ = 0;
};

}  // namespace vproc::shadow
