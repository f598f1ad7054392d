// The daemon's claim on its socket path.
//
// One daemon per socket: a lock on "<socket>.lock" (held for the daemon's life)
// decides between daemons starting at once; a socket file left by a daemon that
// died is removed; a live one is reported with its pid.
#pragma once

#include <string>

#include "status.h"

namespace vproc::daemon {

class ListenSocket {
 public:
  ListenSocket() = default;
  ~ListenSocket();
  ListenSocket(const ListenSocket&) = delete;
  ListenSocket& operator=(const ListenSocket&) = delete;

  // Creates the socket's directory (0755) if needed, takes the lock and clears
  // a stale socket file. EADDRINUSE: another daemon serves (or is starting on) it.
  Status claim(const std::string& socket_path);
  // Binds and listens (non-blocking, close-on-exec). `world` makes the socket
  // connectable by every user (a root daemon checks credentials itself).
  Status listen_now(bool world);
  // The listening descriptor, handed over to the Server.
  int release_fd();
  // Removes the socket file (clean shutdown).
  void remove();

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string lock_path_;
  int lock_fd_ = -1;
  int fd_ = -1;
  bool bound_ = false;
};

// The pid of the daemon listening on `socket_path` (SO_PEERCRED), or 0.
int live_daemon_pid(const std::string& socket_path);

}  // namespace vproc::daemon
