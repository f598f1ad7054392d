#include "client_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wire.h"

namespace vproc::daemon {

ClientConnection::ClientConnection(int fd, const Peer& peer) : fd_(fd), peer_(peer) {
  in_.resize(kMaxRequestBytes / sizeof(uint64_t));
}

ClientConnection::~ClientConnection() { shut(); }

void ClientConnection::shut() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  close_attached();
}

void ClientConnection::close_attached() {
  for (Attached& a : attached_)
    for (int fd : a.fds) close(fd);
  attached_.clear();
}

ClientConnection::ReadStatus ClientConnection::fill(int& err) {
  if (fd_ < 0) return ReadStatus::Eof;
  char* base = reinterpret_cast<char*>(in_.data());
  size_t cap = in_.size() * sizeof(uint64_t);
  if (start_ == end_) {
    start_ = end_ = 0;
  } else if (cap - end_ < 512 && start_ > 0) {
    // Move the partial frame to the front (start_ is a multiple of 8, frames are
    // whole words, so the frame stays aligned).
    memmove(base, base + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  if (end_ == cap) {
    // Only a frame larger than kMaxRequestBytes fills the buffer, and
    // next_frame() reports that as Bad before we get here.
    err = ENOBUFS;
    return ReadStatus::Error;
  }
  for (;;) {
    ssize_t n = recv(fd_, base + end_, cap - end_, 0);
    if (n > 0) {
      end_ += size_t(n);
      return ReadStatus::Data;
    }
    if (n == 0) return ReadStatus::Eof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return ReadStatus::WouldBlock;
    err = errno;
    return ReadStatus::Error;
  }
}

ClientConnection::FrameStatus ClientConnection::next_frame(const void*& data, size_t& len) const {
  const char* p = reinterpret_cast<const char*>(in_.data()) + start_;
  size_t have = end_ - start_;
  size_t size = wire::frame_size(p, have);
  if (size == SIZE_MAX || size > kMaxRequestBytes) return FrameStatus::Bad;
  if (size == 0 || have < size) return FrameStatus::Incomplete;
  data = p;
  len = size;
  return FrameStatus::Ready;
}

void ClientConnection::consume(size_t len) {
  start_ += len;
  if (start_ >= end_) start_ = end_ = 0;
}

void ClientConnection::queue(const void* data, size_t len) {
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  }
  const char* p = static_cast<const char*>(data);
  out_.insert(out_.end(), p, p + len);
}

void ClientConnection::queue(const void* data, size_t len, std::vector<int> fds) {
  if (fds.empty()) return queue(data, len);
  queue(data, len);
  attached_.push_back(Attached{out_.size() - len, len, std::move(fds)});
}

ssize_t ClientConnection::send_some(size_t end, const std::vector<int>* fds) {
  if (!fds) return send(fd_, out_.data() + out_off_, end - out_off_, MSG_NOSIGNAL);
  iovec iov{out_.data() + out_off_, end - out_off_};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)];
  size_t bytes = sizeof(int) * fds->size();
  if (CMSG_SPACE(bytes) > sizeof control) {
    errno = E2BIG;
    return -1;
  }
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(bytes);
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(bytes);
  memcpy(CMSG_DATA(cm), fds->data(), bytes);
  return sendmsg(fd_, &msg, MSG_NOSIGNAL);
}

bool ClientConnection::flush(int& err) {
  while (out_off_ < out_.size()) {
    if (fd_ < 0) {
      err = EPIPE;
      return false;
    }
    // Up to the next frame with descriptors, or that frame alone with them.
    size_t end = out_.size();
    const std::vector<int>* fds = nullptr;
    if (!attached_.empty()) {
      const Attached& a = attached_.front();
      if (a.offset == out_off_) {
        end = a.offset + a.len;
        fds = &a.fds;
      } else {
        end = a.offset;
      }
    }
    ssize_t n = send_some(end, fds);
    if (n > 0) {
      if (fds) {
        // The kernel took them with the first byte (the rest of the frame, if
        // it was sent short, follows without them): our copies can go.
        for (int fd : *fds) close(fd);
        attached_.pop_front();
      }
      out_off_ += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    err = n < 0 ? errno : EPIPE;
    return false;
  }
  out_.clear();
  out_off_ = 0;
  return true;
}

}  // namespace vproc::daemon
