#include "shadow_relay.h"

#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vproc::shadow {

struct StdioRelay::Buffer {
  char data[kBufferBytes];
  size_t head = 0, tail = 0;  // bytes [head, tail) wait to be written

  size_t size() const { return tail - head; }
  bool empty() const { return head == tail; }
  size_t space() {
    if (head == tail) head = tail = 0;
    if (tail == sizeof data && head > 0) {
      memmove(data, data + head, tail - head);
      tail -= head;
      head = 0;
    }
    return sizeof data - tail;
  }
  void clear() { head = tail = 0; }
};

namespace {

bool is_socket(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

// poll()'s POLLOUT on a pipe or terminal promises room for PIPE_BUF bytes, not
// more: a bigger write() to a blocking one could block the whole shadow.
size_t write_chunk_of(int fd) {
  struct stat st;
  if (fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) return PIPE_BUF;
  return StdioRelay::kBufferBytes;  // a file: writes do not wait for a reader
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

StdioRelay::StdioRelay(unsigned closed_stdio) {
  in_.buf = std::make_unique<Buffer>();
  in_.closed = closed_stdio & 1;
  in_.tty = !in_.closed && isatty(0);
  for (int i = 0; i < 2; ++i) {
    Output& o = out_[i];
    o.fd = i + 1;
    o.buf = std::make_unique<Buffer>();
    o.broken = closed_stdio & (2u << i);
    o.to_socket = !o.broken && is_socket(o.fd);
    o.write_chunk = write_chunk_of(o.fd);
  }
}

StdioRelay::~StdioRelay() {
  close_fd(in_.channel);
  close_fd(in_.leftover);
  for (Output& o : out_)
    for (Channel& c : o.channels) close_fd(c.fd);
}

void StdioRelay::add_channels(const std::vector<int>& fds, uint8_t mask, int64_t now_ms) {
  size_t next = 0;
  for (int guest_fd = 0; guest_fd < 4 && next < fds.size(); ++guest_fd) {
    if (!(mask & (1u << guest_fd))) continue;
    int fd = fds[next++];
    if (guest_fd == 0) {
      set_input(fd, now_ms);
    } else if (guest_fd == 3) {
      set_leftover(fd, now_ms);
    } else {
      add_output(out_[guest_fd - 1], fd, now_ms);
    }
  }
  for (; next < fds.size(); ++next) close(fds[next]);  // more than the mask names
}

void StdioRelay::set_input(int fd, int64_t now_ms) {
  // Closing the old socket ends its stream after what is in it: the old
  // guest's source reads that to the end and sends it back as the leftover.
  // What the shadow read but had not sent yet goes to the new guest after it.
  if (in_.channel >= 0 && !in_.awaiting && in_.leftover < 0) {
    in_.awaiting = true;
    in_.awaiting_until = now_ms + kLeftoverWaitMs;
  }
  close_fd(in_.channel);
  if (in_.finished) {
    close(fd);
    return;
  }
  in_.channel = fd;
  in_.shut = false;
  write_input();  // EOF at once if there is nothing to send and nothing awaited
}

void StdioRelay::set_leftover(int fd, int64_t now_ms) {
  if (!in_.awaiting || in_.finished) {
    close(fd);  // no stream of ours was cut short (the guest had dropped its stdin)
    return;
  }
  close_fd(in_.leftover);
  in_.leftover = fd;
  in_.awaiting_until = now_ms + kLeftoverReadMs;
}

void StdioRelay::read_leftover() {
  char chunk[16 * 1024];
  for (;;) {
    ssize_t n = recv(in_.leftover, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n > 0) {
      in_.leftover_bytes.append(chunk, size_t(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    return end_leftover();  // its end: the new guest may have it all now
  }
}

void StdioRelay::end_leftover() {
  close_fd(in_.leftover);
  in_.awaiting = false;
  if (in_.leftover_bytes.empty()) return;
  in_.front = std::move(in_.leftover_bytes) + in_.front.substr(in_.front_off);
  in_.front_off = 0;
  in_.leftover_bytes.clear();
}

void StdioRelay::add_output(Output& o, int fd, int64_t now_ms) {
  if (o.broken) {
    close(fd);  // its reader went away: the guest's writes fail as the original's would
    return;
  }
  if (!o.channels.empty()) o.channels.front().quiet_since = now_ms;
  o.channels.push_back(Channel{fd, now_ms});
}

void StdioRelay::close_input() {
  in_.finished = true;
  close_fd(in_.channel);
  in_.buf->clear();
  end_leftover();
  in_.front.clear();
  in_.front_off = 0;
}

bool StdioRelay::outputs_done() const {
  for (const Output& o : out_)
    if (!o.channels.empty() || (!o.broken && !o.buf->empty())) return false;
  return true;
}

bool StdioRelay::in_foreground() const {
  // A background job reading its terminal would get SIGTTIN (the shadow
  // blocks it, so EIO): the original program would have stopped only if it
  // read, so the shadow does not read until it is in the foreground.
  if (!in_.tty) return true;
  pid_t fg = tcgetpgrp(0);
  return fg < 0 || fg == getpgrp();
}

size_t StdioRelay::readable_channels(Output& o, int64_t now_ms) {
  if (o.channels.size() > 1 && !o.parallel && now_ms - o.channels.front().quiet_since >= kOldChannelQuietMs)
    o.parallel = true;
  if (o.channels.size() <= 1) o.parallel = false;
  return o.parallel ? o.channels.size() : std::min<size_t>(o.channels.size(), 1);
}

void StdioRelay::prepare(std::vector<pollfd>& set, int64_t now_ms, int& timeout_ms) {
  auto add = [&set](int fd, short events) {
    set.push_back(pollfd{fd, events, 0});
    return int(set.size() - 1);
  };
  auto lower = [&timeout_ms](int64_t ms) {
    ms = std::max<int64_t>(ms, 0);
    if (timeout_ms < 0 || ms < timeout_ms) timeout_ms = int(ms);
  };

  in_.in_slot = in_.out_slot = in_.leftover_slot = -1;
  if (in_.awaiting && now_ms >= in_.awaiting_until) end_leftover();  // given up: lost with the old guest
  if (in_.awaiting) lower(in_.awaiting_until - now_ms);
  if (in_.leftover >= 0) in_.leftover_slot = add(in_.leftover, POLLIN);
  if (in_.channel >= 0 && !in_.closed && in_.buf->space() > 0) {
    if (now_ms < in_.background_until) {
      lower(in_.background_until - now_ms);
    } else if (!in_foreground()) {
      lower(kBackgroundRecheckMs);
    } else {
      in_.in_slot = add(0, POLLIN);
    }
  }
  bool to_send = !in_.buf->empty() || in_.front_off < in_.front.size();
  if (in_.channel >= 0 && !in_.awaiting && to_send) in_.out_slot = add(in_.channel, POLLOUT);

  for (Output& o : out_) {
    o.out_slot = -1;
    o.in_slots.clear();
    if (!o.buf->empty() && !o.broken) o.out_slot = add(o.fd, POLLOUT);
    if (o.buf->space() == 0) continue;
    size_t n = readable_channels(o, now_ms);
    for (size_t i = 0; i < n; ++i) o.in_slots.emplace_back(i, add(o.channels[i].fd, POLLIN));
    if (!o.parallel && o.channels.size() > 1)
      lower(o.channels.front().quiet_since + kOldChannelQuietMs - now_ms);
  }
}

void StdioRelay::service(const std::vector<pollfd>& set, int64_t now_ms) {
  auto ready = [&set](int slot) { return slot >= 0 && set[size_t(slot)].revents != 0; };
  if (ready(in_.leftover_slot)) read_leftover();
  if (ready(in_.in_slot)) read_stdin(now_ms);
  if (in_.channel >= 0) write_input();  // sockets: MSG_DONTWAIT, no need to ask poll() first
  for (Output& o : out_) {
    // Backwards: reading a channel to its end removes it from the deque.
    for (auto it = o.in_slots.rbegin(); it != o.in_slots.rend(); ++it)
      if (ready(it->second)) read_channel(o, it->first, now_ms);
    if (ready(o.out_slot) || (o.to_socket && !o.buf->empty())) write_output(o, now_ms);
  }
}

void StdioRelay::read_stdin(int64_t now_ms) {
  Buffer& b = *in_.buf;
  size_t space = b.space();
  if (space == 0) return;
  ssize_t n = read(0, b.data + b.tail, space);
  if (n > 0) {
    b.tail += size_t(n);
  } else if (n == 0) {
    in_.closed = true;
  } else if (errno == EINTR || errno == EAGAIN) {
    return;
  } else if (errno == EIO && in_.tty) {
    in_.background_until = now_ms + kBackgroundRecheckMs;  // moved to the background meanwhile
  } else {
    in_.closed = true;
  }
}

void StdioRelay::write_input() {
  if (in_.awaiting) return;  // the leftover goes first
  std::string& f = in_.front;
  while (in_.channel >= 0 && in_.front_off < f.size()) {
    ssize_t n = send(in_.channel, f.data() + in_.front_off, f.size() - in_.front_off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      in_.front_off += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    drop_input_channel();
    return;
  }
  if (in_.channel < 0) return;
  f.clear();
  in_.front_off = 0;
  Buffer& b = *in_.buf;
  while (in_.channel >= 0 && !b.empty()) {
    ssize_t n = send(in_.channel, b.data + b.head, b.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      b.head += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // The guest closed its stdin: like a program that closed fd 0, it reads
    // nothing more; the rest stays unread (dropped here).
    drop_input_channel();
    return;
  }
  if (in_.channel >= 0 && in_.closed && b.empty() && !in_.shut) {
    shutdown(in_.channel, SHUT_WR);  // the guest reads EOF, as the original would
    in_.shut = true;
  }
}

void StdioRelay::drop_input_channel() {
  close_fd(in_.channel);
  in_.buf->clear();
  in_.front.clear();
  in_.front_off = 0;
}

void StdioRelay::read_channel(Output& o, size_t index, int64_t now_ms) {
  Buffer& b = *o.buf;
  size_t space = b.space();
  if (space == 0 || index >= o.channels.size()) return;
  Channel& c = o.channels[index];
  ssize_t n = recv(c.fd, b.data + b.tail, space, MSG_DONTWAIT);
  if (n > 0) {
    b.tail += size_t(n);
    c.quiet_since = now_ms;
    last_output_ms_ = now_ms;
    return;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return;
  // The end of this guest's stream (EOF, or the connection reset).
  close_fd(c.fd);
  o.channels.erase(o.channels.begin() + std::ptrdiff_t(index));
  if (index == 0 && !o.channels.empty()) o.channels.front().quiet_since = now_ms;
  last_output_ms_ = now_ms;
}

void StdioRelay::write_output(Output& o, int64_t now_ms) {
  Buffer& b = *o.buf;
  while (!b.empty() && !o.broken) {
    ssize_t n;
    if (o.to_socket) {
      n = send(o.fd, b.data + b.head, b.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
      n = write(o.fd, b.data + b.head, std::min(b.size(), o.write_chunk));
    }
    if (n > 0) {
      b.head += size_t(n);
      last_output_ms_ = now_ms;
      if (!o.to_socket) return;  // more once poll() vouches for it again
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    break_output(o);  // EPIPE, EIO (terminal hung up), EBADF ...
  }
}

void StdioRelay::break_output(Output& o) {
  // The shadow's reader is gone. Closing the guest's sockets makes the guest's
  // next writes fail with EPIPE, as the original's would have.
  o.broken = true;
  o.buf->clear();
  for (Channel& c : o.channels) close_fd(c.fd);
  o.channels.clear();
}

}  // namespace vproc::shadow
