// Blocking I/O with deadlines on a transfer connection, for the worker threads
// of ImageSender and ImageReceiver (the event loop never does any of this).
//
// The socket is switched to non-blocking mode and every wait is a poll(2)
// bounded by the stall timeout, so a silent peer ends the transfer with
// ETIMEDOUT instead of hanging it (a send queue that shrinks, however slowly,
// is not silence). On TCP, TCP_USER_TIMEOUT makes the kernel
// give up on data that stays unacknowledged (a cut link, a dead host) within
// the same time. cancel() (any thread) shuts the socket down, which wakes the
// poll at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "status.h"

namespace vproc::daemon {

struct TransferTuning {
  int stall_ms = 5000;                  // no progress for this long: ETIMEDOUT
  unsigned tcp_user_timeout_ms = 5000;  // TCP only; 0: the kernel's default (minutes)
  int sndbuf = 0, rcvbuf = 0;           // SO_SNDBUF/SO_RCVBUF; 0: the kernel's autotuning
  size_t send_chunk = 64u << 20;        // bytes per sendfile(2) call
  // socket -> pipe -> file (one copy, the least CPU); false: recv + pwrite
  // (two copies, the second from a cache-resident buffer). bench/transfer_bench.sh
  // measures both: equal throughput on a veth pair, splice 10% less CPU.
  bool splice_receive = true;
  int pipe_bytes = 1 << 20;         // the splice pipe's size (F_SETPIPE_SZ)
  size_t copy_buffer = 256u << 10;  // recv buffer when not splicing: fits in L2
};

class TransferSocket {
 public:
  // Does not take `fd`: its owner closes it after the worker thread is done.
  TransferSocket(int fd, const TransferTuning& tuning) : fd_(fd), tuning_(tuning) {}

  // Non-blocking mode, and on TCP: TCP_USER_TIMEOUT, TCP_NODELAY, buffer sizes.
  Status prepare();
  int fd() const { return fd_; }
  const TransferTuning& tuning() const { return tuning_; }

  // Waits until one of `events` (POLLIN/POLLOUT) is ready; `revents` says which
  // (POLLHUP/POLLERR included). ETIMEDOUT after the stall timeout, ECANCELED
  // once cancelled.
  Status wait(short events, short& revents);
  Status write_all(const void* buf, size_t len);
  // One standard-framed message of at most kMaxTransferFrameBytes. EPIPE if
  // the peer closed the connection first (`what` names the frame in messages).
  Status read_frame(std::vector<uint64_t>& out, const char* what);

  // From any thread, while the fd is open: wakes and fails every wait.
  void cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // The status to report for a failed system call with errno `err`: ECANCELED
  // once cancelled (a shut-down socket fails with anything), else `err`.
  Status failure(int err, std::string message) const;

 private:
  int fd_;
  TransferTuning tuning_;
  std::atomic<bool> cancelled_{false};
};

// A transfer's progress, written by its thread, read by anyone.
struct TransferProgress {
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> total{0};  // 0 until known (the file opened, the offer read)
};

// "12 MiB of 64 MiB".
std::string progress_text(uint64_t done, uint64_t total);

}  // namespace vproc::daemon
