// One client socket: its peer, its framed input and its queued output.
//
// Input is kept in an 8-byte aligned buffer (Cap'n Proto frames are whole
// words, so each frame starts aligned and can be decoded in place). Output is
// written without blocking; what the socket does not take waits for EPOLLOUT.
//
// A queued frame may carry file descriptors (SCM_RIGHTS). The kernel hands
// them to the reader with the first byte of the sendmsg() they came with, so
// that sendmsg() starts at the frame's first byte and ends with its last.
#pragma once

#include <ev.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "credentials.h"

namespace vproc::daemon {

class ClientConnection {
 public:
  // Largest request frame a client may send; every request is smaller (the
  // largest, a CheckpointResult with a long path and message, about 1.6 KiB).
  static constexpr size_t kMaxRequestBytes = 4096;
  // A client that stops reading its replies is cut off beyond this much.
  static constexpr size_t kMaxQueuedBytes = 64u << 20;

  ClientConnection(int fd, const Peer& peer);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  int fd() const { return fd_; }
  const Peer& peer() const { return peer_; }

  enum class ReadStatus { Data, WouldBlock, Eof, Error };
  // One non-blocking read into the input buffer. On Error, `err` holds errno.
  ReadStatus fill(int& err);

  enum class FrameStatus { Incomplete, Ready, Bad };
  // The first complete frame in the input, without consuming it.
  FrameStatus next_frame(const void*& data, size_t& len) const;
  void consume(size_t len);
  size_t buffered() const { return end_ - start_; }

  void queue(const void* data, size_t len);
  // Queues one frame with descriptors attached to its first byte. The fds are
  // owned from now on: closed once sent, or when the connection is shut.
  void queue(const void* data, size_t len, std::vector<int> fds);
  // Writes queued output until done or EAGAIN. False on a write error (`err`).
  bool flush(int& err);
  size_t queued() const { return out_.size() - out_off_; }

  // Closes the socket now (the object itself may be destroyed later).
  void shut();
  bool is_shut() const { return fd_ < 0; }

  // Server bookkeeping.
  ev_io read_watcher;
  ev_io write_watcher;
  void* owner = nullptr;
  bool busy = false;  // its input is being handled right now: drains skip it
  uint64_t id = 0;    // never reused: names it for a deferred reply
  // A request's reply is deferred (a checkpoint): later requests wait in the
  // input buffer, so replies still come in request order.
  bool awaiting_reply = false;

 private:
  int fd_;
  Peer peer_;
  std::vector<uint64_t> in_;    // words, so frames are 8-byte aligned
  size_t start_ = 0, end_ = 0;  // unconsumed bytes [start_, end_)
  // Writes out_[out_off_, end) with one send (sendmsg if `fds`); the bytes
  // written, or -1 with errno.
  ssize_t send_some(size_t end, const std::vector<int>* fds);
  void close_attached();

  std::vector<char> out_;
  size_t out_off_ = 0;
  struct Attached {
    size_t offset, len;  // the frame's place in out_
    std::vector<int> fds;
  };
  std::deque<Attached> attached_;  // in offset order; all before out_'s end
};

}  // namespace vproc::daemon
