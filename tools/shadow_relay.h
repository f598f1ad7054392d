// The shadow's stdio relay: bytes from its own fd 0 to the guest's stdin
// socket, and from the guest's stdout/stderr sockets to its own fd 1/2
// (docs/cluster.md: the stdio connections end in the shadow; no daemon copies
// stdio bytes).
//
// The shadow's fds 0-2 are the original process's: their open file
// descriptions are shared with its parent (often a shell and its terminal), so
// their flags are left alone. Instead, writes to them are sized to what poll()
// promised (a pipe or terminal takes PIPE_BUF bytes once it is writable) or
// sent with MSG_DONTWAIT (sockets), and reads happen only once poll() said so.
//
// When the guest moves on, new sockets replace the old ones. The old copy
// may not have read all the input the shadow sent it: its source hands the
// rest back as a "leftover" stream (bit 3 of a channel mask,
// vprocd/migration_stdin.h), once the shadow has closed the old stdin socket.
// Until that stream has ended (or kLeftoverWaitMs passed) nothing is sent to
// the new guest; then the leftover goes first, so each byte arrives once and
// in order. An old output
// socket is read to its end before the new one is read, so the output keeps its
// order; only if the old one stays silent for kOldChannelQuietMs (the old
// guest's children may hold it open) are both read at once from then on.
#pragma once

#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace vproc::shadow {

class StdioRelay {
 public:
  static constexpr int64_t kOldChannelQuietMs = 5000;
  static constexpr int64_t kBackgroundRecheckMs = 500;
  static constexpr size_t kBufferBytes = 64 * 1024;
  // For the leftover to start arriving, and then to end.
  static constexpr int64_t kLeftoverWaitMs = 10000, kLeftoverReadMs = 15000;

  // `closed_stdio`: bit n set when the original process had no fd n (the
  // shadow put /dev/null there): nothing is relayed for it.
  explicit StdioRelay(unsigned closed_stdio);
  ~StdioRelay();
  StdioRelay(const StdioRelay&) = delete;
  StdioRelay& operator=(const StdioRelay&) = delete;

  // New sockets for the guest's fds named by `mask` (bit 0: fd 0 ...; bit 3:
  // the leftover of the previous guest's stdin), in ascending order; owned
  // from now on.
  void add_channels(const std::vector<int>& fds, uint8_t mask, int64_t now_ms);
  // The guest has exited: stdin is no longer relayed.
  void close_input();

  // Adds what to wait for to `set` (remembering the places) and lowers
  // `timeout_ms` to the next moment something is due.
  void prepare(std::vector<pollfd>& set, int64_t now_ms, int& timeout_ms);
  // Moves bytes after poll() returned; `set` as prepare() left it.
  void service(const std::vector<pollfd>& set, int64_t now_ms);

  // Every output socket has ended (or its stream is broken) and all that was
  // read from them is written.
  bool outputs_done() const;
  // When bytes last moved on an output stream (read or written).
  int64_t last_output_ms() const { return last_output_ms_; }

 private:
  struct Buffer;
  struct Channel {
    int fd = -1;
    int64_t quiet_since = 0;  // while a newer channel waits: last data, or its arrival
  };
  struct Output {
    int fd = 1;               // the shadow's own fd: 1 or 2
    bool to_socket = false;   // send(MSG_DONTWAIT); else write() sized by poll
    size_t write_chunk = 0;   // largest write() poll's POLLOUT vouches for
    bool broken = false;      // its reader went away: the guest's writes fail too
    bool parallel = false;    // the front channel went quiet: all are read
    std::deque<Channel> channels;  // front: the oldest, read first
    std::unique_ptr<Buffer> buf;
    int out_slot = -1;        // places in the poll set
    std::vector<std::pair<size_t, int>> in_slots;  // (channel index, place)
  };
  struct Input {
    bool tty = false;
    bool closed = false;      // no fd 0, or it reached EOF / an error
    bool shut = false;        // SHUT_WR sent on the channel
    bool finished = false;    // close_input(): the guest is gone
    int channel = -1;
    int64_t background_until = 0;  // a background job's terminal read failed: pause
    std::unique_ptr<Buffer> buf;
    int in_slot = -1, out_slot = -1;
    // The previous guest's unread input: awaited (the channel changed while
    // one was open), being read (`leftover`), then sent ahead of `buf`.
    bool awaiting = false;
    int64_t awaiting_until = 0;
    int leftover = -1;
    int leftover_slot = -1;
    std::string leftover_bytes;  // read so far
    // Not yet sent ahead of `buf`: at its end, the leftover goes before what
    // is left of an earlier one (that was newer input).
    std::string front;
    size_t front_off = 0;
  };

  void add_output(Output& o, int fd, int64_t now_ms);
  void set_input(int fd, int64_t now_ms);
  void set_leftover(int fd, int64_t now_ms);
  void read_leftover();
  void end_leftover();
  // Readable channels of `o` now (the front only while it is exclusive).
  size_t readable_channels(Output& o, int64_t now_ms);
  void read_channel(Output& o, size_t index, int64_t now_ms);
  void write_output(Output& o, int64_t now_ms);
  void break_output(Output& o);
  void read_stdin(int64_t now_ms);
  void write_input();
  void drop_input_channel();
  bool in_foreground() const;

  Input in_;
  Output out_[2];  // the guest's fd 1 and fd 2
  int64_t last_output_ms_ = 0;
};

}  // namespace vproc::shadow
