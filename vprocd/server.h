// The daemon's socket side: accepts clients, frames their requests, hands them
// to RequestDispatch and queues the replies, all in one libev loop.
//
// A client that sends a malformed frame loses its connection (with a log line);
// nothing a client sends can stop the daemon.
#pragma once

#include <ev.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "client_connection.h"
#include "logger.h"
#include "process_table.h"
#include "request_dispatch.h"
#include "spawn_rings.h"
#include "wire.h"

namespace vproc::daemon {

class Server {
 public:
  // `listen_fd`: a listening, non-blocking Unix stream socket (owned from now on).
  Server(struct ev_loop* loop, int listen_fd, RequestDispatch& dispatch, Logger& log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The spawn rings to read before every request (and in the drains).
  void set_rings(SpawnRings* rings) { rings_ = rings; }

  void start();
  // Stops accepting and closes every connection.
  void stop();

  // Reads every spawn ring, then reads and handles every client's pending input
  // (except the one being handled now). Nested calls do nothing.
  void drain_all();
  // The same for the connections of one process (before its exit is processed:
  // its last messages, e.g. Spawned for a child, were sent before it exited).
  // Also inside another drain; connections being handled are skipped.
  void drain_peer(RealPid pid);

  // A connection of process `pid` is being handled right now (further up the stack).
  bool peer_busy(RealPid pid) const;

  // Sends the deferred reply of connection `id` (RequestDispatch::Answer::Deferred)
  // from the loop, and lets its waiting requests go on. False if it has closed.
  // `fds` go with the reply (SCM_RIGHTS on its first byte); they are owned by
  // the call: closed once sent, when the connection closes first, or now if
  // the call fails.
  bool send_later(uint64_t id, const wire::Reply& reply, std::vector<int> fds = {});
  // The same for a reply that is a complete frame already (a process list).
  bool send_later_frame(uint64_t id, const std::vector<uint64_t>& frame);
  // Connection `id` is still open.
  bool is_open(uint64_t id) const;

  size_t connections() const { return conns_.size(); }
  // Deletes connections closed while handling a callback. Called at the end of
  // every callback that may close connections.
  void reap_closed();

 private:
  static void on_accept(struct ev_loop* loop, ev_io* w, int revents);
  static void on_readable(struct ev_loop* loop, ev_io* w, int revents);
  static void on_writable(struct ev_loop* loop, ev_io* w, int revents);

  // A drain reads what a client had sent before (a socket buffer's worth), not
  // what a client keeps sending while we read.
  static constexpr int kDrainReads = 256;

  void accept_clients();
  // Reads (at most `max_reads` times, until EAGAIN) and handles the frames.
  void service(ClientConnection& c, int max_reads);
  // Handles complete frames in c's buffer; false if the connection was closed.
  bool handle_frames(ClientConnection& c);
  void send_output(ClientConnection& c);
  void close_connection(ClientConnection& c, const char* why);

  struct ev_loop* loop_;
  int listen_fd_;
  int spare_fd_ = -1;  // given up to accept (and drop) a client when out of descriptors
  ev_io accept_watcher_;
  RequestDispatch& dispatch_;
  Logger& log_;
  std::unordered_map<int, std::unique_ptr<ClientConnection>> conns_;
  std::unordered_multimap<uint32_t, ClientConnection*> by_peer_;
  std::unordered_map<uint64_t, ClientConnection*> by_id_;
  uint64_t last_id_ = 0;
  std::vector<std::unique_ptr<ClientConnection>> closed_;
  bool draining_ = false;
  SpawnRings* rings_ = nullptr;
};

}  // namespace vproc::daemon
