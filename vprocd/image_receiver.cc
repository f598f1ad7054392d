#include "image_receiver.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "human_units.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

// How long a refusing receiver keeps reading (and dropping) what the source
// still sends, so that the source reads the refusal instead of a reset.
constexpr int kDrainMs = 1000;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

Status not_enough_space(const Spool& spool, uint64_t need, uint64_t have) {
  return Status::failure(ENOSPC, strf("not enough space in %s: need %s, have %s", spool.dir().c_str(),
                                      human_bytes(need).c_str(), human_bytes(have).c_str()));
}

Status check_offer(const ImageOffer& offer, const Spool& spool, const ReceiverLimits& limits) {
  if (offer.bytes == 0) return Status::failure(EINVAL, "the offered image is empty");
  if (offer.bytes > limits.max_bytes)
    return Status::failure(EFBIG, strf("the image (%s) is larger than this node accepts (%s)",
                                       human_bytes(offer.bytes).c_str(), human_bytes(limits.max_bytes).c_str()));
  uint64_t have = 0;
  if (Status s = spool.free_bytes(have); !s.ok()) return s;
  if (offer.bytes > have) return not_enough_space(spool, offer.bytes, have);
  return Status::success();
}

Status end_of_stream(uint64_t got, uint64_t total) {
  return Status::failure(EPIPE, strf("the source closed the connection after %s", progress_text(got, total).c_str()));
}

// socket -> pipe -> file: the kernel moves the received pages into the pipe
// and copies them once, into the page cache.
Status receive_spliced(TransferSocket& sock, int file, uint64_t total, TransferProgress& progress) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Status::failure(errno, strf("pipe: %s", strerror(errno)));
  Fd pr(p[0]), pw(p[1]);
  // Bigger than pipe-max-size (1 MiB) only for root.
  if (fcntl(pw.get(), F_SETPIPE_SZ, sock.tuning().pipe_bytes) < 0) fcntl(pw.get(), F_SETPIPE_SZ, 1 << 20);
  int pipe_bytes = fcntl(pw.get(), F_GETPIPE_SZ);
  if (pipe_bytes <= 0) pipe_bytes = 64 << 10;
  loff_t off = 0;
  while (uint64_t(off) < total) {
    size_t want = size_t(std::min<uint64_t>(uint64_t(pipe_bytes), total - uint64_t(off)));
    ssize_t n = splice(sock.fd(), nullptr, pw.get(), nullptr, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n == 0) return sock.failure(EPIPE, end_of_stream(uint64_t(off), total).message);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN)
        return sock.failure(errno, strf("receiving the image: %s (after %s)", strerror(errno),
                                        progress_text(uint64_t(off), total).c_str()));
      short rev = 0;
      if (Status s = sock.wait(POLLIN, rev); !s.ok()) {
        s.message =
            strf("receiving the image: %s (after %s)", s.message.c_str(), progress_text(uint64_t(off), total).c_str());
        return s;
      }
      continue;
    }
    // Empty the pipe into the file (the pipe is always empty between rounds).
    for (ssize_t left = n; left > 0;) {
      ssize_t m = splice(pr.get(), nullptr, file, &off, size_t(left), SPLICE_F_MOVE);
      if (m < 0 && errno == EINTR) continue;
      if (m <= 0)
        return Status::failure(m < 0 ? errno : EIO,
                               strf("writing the image: %s", m < 0 ? strerror(errno) : "no progress"));
      left -= m;
    }
    progress.done.store(uint64_t(off), std::memory_order_relaxed);
  }
  return Status::success();
}

// recv into a buffer, pwrite to the file: two copies, no pipe.
Status receive_copied(TransferSocket& sock, int file, uint64_t total, TransferProgress& progress) {
  std::vector<char> buf(std::max<size_t>(sock.tuning().copy_buffer, 64 << 10));
  uint64_t off = 0;
  while (off < total) {
    size_t want = size_t(std::min<uint64_t>(buf.size(), total - off));
    ssize_t n = recv(sock.fd(), buf.data(), want, 0);
    if (n == 0) return sock.failure(EPIPE, end_of_stream(off, total).message);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN)
        return sock.failure(
            errno, strf("receiving the image: %s (after %s)", strerror(errno), progress_text(off, total).c_str()));
      short rev = 0;
      if (Status s = sock.wait(POLLIN, rev); !s.ok()) {
        s.message = strf("receiving the image: %s (after %s)", s.message.c_str(), progress_text(off, total).c_str());
        return s;
      }
      continue;
    }
    for (ssize_t done = 0; done < n;) {
      ssize_t m = pwrite(file, buf.data() + done, size_t(n - done), off_t(off + uint64_t(done)));
      if (m < 0 && errno == EINTR) continue;
      if (m <= 0)
        return Status::failure(m < 0 ? errno : EIO,
                               strf("writing the image: %s", m < 0 ? strerror(errno) : "no progress"));
      done += m;
    }
    off += uint64_t(n);
    progress.done.store(off, std::memory_order_relaxed);
  }
  return Status::success();
}

Status check_head_page(int file, const ImageOffer& offer) {
  char buf[kHeadPageBytes];
  size_t want = size_t(std::min<uint64_t>(offer.bytes, sizeof buf));
  ssize_t n = pread(file, buf, want, 0);
  if (n != ssize_t(want))
    return Status::failure(EIO, strf("reading back the image: %s", n < 0 ? strerror(errno) : "short read"));
  if (XXH3_64bits(buf, want) != offer.head_page_hash)
    return Status::failure(EBADMSG, "the received image's first page does not match the offer");
  return Status::success();
}

// Tells the source (best effort after a failure: it may be gone).
Status answer(TransferSocket& sock, const Status& s, uint64_t bytes) {
  ImageReceived r{s.err, s.message, bytes};
  std::vector<uint64_t> frame = encode_received(r);
  return sock.write_all(frame.data(), frame.size() * 8);
}

// After a refusal or failure: stop sending, and read what the source still
// has in flight until it hangs up (it stops when it sees our answer), so that
// closing does not reset the connection before the answer is read.
void drain(TransferSocket& sock) {
  shutdown(sock.fd(), SHUT_WR);
  char buf[64 << 10];
  for (int waited = 0; waited < kDrainMs && !sock.cancelled();) {
    ssize_t n = recv(sock.fd(), buf, sizeof buf, MSG_TRUNC);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;
    if (n > 0) continue;
    pollfd p{sock.fd(), POLLIN, 0};
    if (poll(&p, 1, 100) == 0) waited += 100;
  }
}

Status receive_into(TransferSocket& sock, const ImageOffer& offer, int file, TransferProgress& progress) {
  if (sock.tuning().splice_receive) {
    if (Status s = receive_spliced(sock, file, offer.bytes, progress); !s.ok()) return s;
  } else {
    if (Status s = receive_copied(sock, file, offer.bytes, progress); !s.ok()) return s;
  }
  return check_head_page(file, offer);
}

}  // namespace

Status receive_image(TransferSocket& sock, const Spool& spool, const ReceiverLimits& limits, ReceivedImage& out,
                     TransferProgress& progress) {
  if (Status s = sock.prepare(); !s.ok()) return s;
  std::vector<uint64_t> frame;
  if (Status s = sock.read_frame(frame, "image offer"); !s.ok()) {
    s.message = "waiting for the image offer: " + s.message;
    return s;
  }
  ImageOffer offer;
  if (!decode_offer(frame.data(), frame.size() * 8, offer)) {
    Status s = Status::failure(EPROTO, "malformed image offer");
    (void)answer(sock, s, 0);
    return s;
  }
  progress.total.store(offer.bytes, std::memory_order_relaxed);

  std::string path = spool.image_path(offer.migration);
  Fd file;
  Status s = check_offer(offer, spool, limits);
  if (s.ok()) {
    file.reset(open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (file.get() < 0) {
      s = errno == EEXIST ? Status::failure(EEXIST, strf("an image of migration %llx is already in %s",
                                                         (unsigned long long)offer.migration, spool.dir().c_str()))
                          : Status::failure(errno, strf("cannot create %s: %s", path.c_str(), strerror(errno)));
    }
  }
  // Reserve the space first: a disk that fills up meanwhile fails now, not
  // 900 MiB into the transfer.
  if (s.ok() && fallocate(file.get(), 0, 0, off_t(offer.bytes)) != 0 && errno != EOPNOTSUPP) {
    uint64_t have = 0;
    s = errno == ENOSPC && spool.free_bytes(have).ok()
            ? not_enough_space(spool, offer.bytes, have)
            : Status::failure(errno, strf("cannot allocate %s for %s: %s", human_bytes(offer.bytes).c_str(),
                                          path.c_str(), strerror(errno)));
  }
  if (s.ok()) s = receive_into(sock, offer, file.get(), progress);
  if (s.ok()) s = answer(sock, s, offer.bytes);
  if (!s.ok()) {
    if (file.get() >= 0) {
      file.reset();
      unlink(path.c_str());
    }
    if (!sock.cancelled() && s.err != EPIPE && s.err != ECONNRESET && s.err != ETIMEDOUT) {
      if (answer(sock, s, progress.done.load(std::memory_order_relaxed)).ok()) drain(sock);
    }
    return s;
  }
  out.path = std::move(path);
  out.offer = offer;
  return Status::success();
}

ImageReceiver::~ImageReceiver() {
  if (task_.running()) sock_->cancel();
  task_.join();
  if (fd_ >= 0) close(fd_);
  // Received, but `done` never saw it: nobody else will remove it.
  if (result_.ok() && !image_.path.empty()) unlink(image_.path.c_str());
}

void ImageReceiver::start(int fd, Done done) {
  fd_ = fd;
  sock_ = std::make_unique<TransferSocket>(fd, tuning_);
  task_.start([this] { result_ = receive_image(*sock_, spool_, limits_, image_, progress_); },
              [this, done = std::move(done)] {
                close(fd_);
                fd_ = -1;
                Status result = std::move(result_);
                ReceivedImage image = std::move(image_);
                image_.path.clear();
                result_ = Status::success();
                done(result, image);  // may destroy *this
              });
}

void ImageReceiver::cancel() {
  if (task_.running()) sock_->cancel();
}

}  // namespace vproc::daemon
