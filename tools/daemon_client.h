// A tool's connection to the node daemon: one request at a time, each answered
// by one reply (common/protocol.capnp), every step bounded by a timeout so a
// stuck daemon cannot hang the user's shell.
#pragma once

#include <string>
#include <vector>

#include "wire.h"

namespace vproc::tools {

class DaemonClient {
 public:
  DaemonClient() = default;
  DaemonClient(const DaemonClient&) = delete;
  DaemonClient& operator=(const DaemonClient&) = delete;
  ~DaemonClient() { close(); }

  // Connects to the daemon's socket. Returns 0, or the errno of the failure:
  // ENOENT / ECONNREFUSED mean nobody listens there, ENAMETOOLONG that the path
  // does not fit in a sockaddr_un, ETIMEDOUT that the daemon's backlog stayed
  // full. Every later call waits at most `timeout_ms` for the daemon.
  int connect(const std::string& socket_path, int timeout_ms);
  void close();
  const std::string& socket_path() const { return path_; }

  // Sends a request and returns the daemon's reply (never ListFollows).
  // Throws DaemonError on timeout, a closed connection or a malformed reply.
  // `reply_timeout_ms` > 0 replaces the connection's timeout for the reply
  // (a checkpoint is answered when the image is written).
  wire::Reply call(const wire::Request& req, int reply_timeout_ms = 0);

  // ListRequest: the daemon's process table. Throws DaemonError as call() does,
  // and ToolError(2, ...) carrying the daemon's message if it refuses.
  std::vector<wire::ProcessEntry> list(bool threads);
  // ClusterQuery: the processes of the cluster (or one node) and the state of
  // each node asked. Errors as list().
  wire::ClusterListing cluster_list(const wire::ClusterQuery& query);

 private:
  void send_frame(const wire::Request& req);
  std::vector<uint64_t> read_frame(int timeout_ms);
  [[noreturn]] void fail(const std::string& what) const;

  int fd_ = -1;
  int timeout_ms_ = 0;
  std::string path_;
};

// Human text for an Error reply: its message, or strerror of its errno.
std::string describe(const wire::Error& e);

}  // namespace vproc::tools
