// Cap'n Proto frames on peer (TCP) sockets: building them, reading them in
// place, assembling them from non-blocking reads, and blocking send/receive
// for worker threads.
//
// Everything a peer sends is untrusted: frame sizes are capped by the caller,
// and a Cap'n Proto reader throws kj::Exception on a malformed message, which
// the users of FrameMessage catch (a bad peer is closed, never a crash).
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "status.h"

namespace vproc::daemon {

// One serialized message, whole words (so it can be read in place).
using Frame = std::vector<uint64_t>;

// The message as a frame (standard stream framing).
Frame to_frame(capnp::MessageBuilder& mb);

// Reads one frame in place (8-byte aligned, `len` = its frame size). Accessing
// a malformed message throws kj::Exception; the traversal limit scales with
// the frame's size, so a small hostile frame cannot cost much work.
class FrameMessage {
 public:
  FrameMessage(const void* data, size_t len);
  template <typename T>
  typename T::Reader root() {
    return reader_.getRoot<T>();
  }

 private:
  static capnp::ReaderOptions options(size_t len);
  capnp::FlatArrayMessageReader reader_;
};

// Bytes read from a socket, assembled into frames. Frames start 8-byte aligned.
class FrameBuffer {
 public:
  enum class Read { Data, WouldBlock, Eof, Error };
  // One read. `exact`: never past the end of the frame being assembled, so the
  // bytes after it (an image after its Open frame) stay in the socket.
  Read fill(int fd, bool exact, int& err);

  enum class Next { Incomplete, Ready, Bad };
  // The first complete frame, without consuming it. Bad: an invalid prefix or
  // a frame larger than `max_bytes`.
  Next next(size_t max_bytes, const void*& data, size_t& len) const;
  void consume(size_t len);
  size_t buffered() const { return end_ - start_; }

 private:
  std::vector<uint64_t> words_ = std::vector<uint64_t>(512);
  size_t start_ = 0, end_ = 0;  // unconsumed bytes [start_, end_)
};

// Bytes still missing to complete the frame whose first `have` bytes are at
// `buf`; SIZE_MAX if its prefix is invalid.
size_t frame_bytes_missing(const void* buf, size_t have);

// --- blocking (worker threads, the handshake's blocking form) --------------
// Milliseconds on CLOCK_MONOTONIC.
int64_t monotonic_ms();
// Writes all of `data` before `deadline_ms`. ETIMEDOUT, or the write's errno.
Status send_all(int fd, const void* data, size_t len, int64_t deadline_ms);
// Reads exactly one frame (nothing after it) before `deadline_ms`.
// ETIMEDOUT, ECONNRESET for an EOF, EPROTO for a bad or too large frame.
Status receive_frame(int fd, size_t max_bytes, int64_t deadline_ms, Frame& out);

}  // namespace vproc::daemon
