#include "image_sender.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "strf.h"

namespace vproc::daemon {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status head_page_hash(int fd, uint64_t size, uint64_t& out) {
  char buf[kHeadPageBytes];
  size_t want = size_t(std::min<uint64_t>(size, sizeof buf));
  size_t have = 0;
  while (have < want) {
    ssize_t n = pread(fd, buf + have, want - have, off_t(have));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::failure(errno, strf("reading the image: %s", strerror(errno)));
    if (n == 0) return Status::failure(EIO, "reading the image: it shrank");
    have += size_t(n);
  }
  out = XXH3_64bits(buf, want);
  return Status::success();
}

// The target's ImageReceived frame. `io` is what kept us from reading one.
struct Answer {
  Status io;
  ImageReceived r;
};

Answer read_answer(TransferSocket& sock) {
  Answer a;
  std::vector<uint64_t> frame;
  a.io = sock.read_frame(frame, "target's answer");
  if (a.io.ok() && !decode_received(frame.data(), frame.size() * 8, a.r))
    a.io = Status::failure(EPROTO, "malformed answer from the target");
  return a;
}

// The outcome once the target has answered, `sent` bytes into the image.
Status judge(const ImageReceived& r, uint64_t sent, uint64_t total) {
  if (r.err != 0) return Status::failure(r.err, r.message.empty() ? strerror(r.err) : r.message);
  if (sent != total || r.bytes != total)
    return Status::failure(EPROTO, strf("the target confirmed the image after %s", progress_text(sent, total).c_str()));
  return Status::success();
}

// A reset or an end of stream where an answer or room for more was expected.
Status hung_up(Status s) {
  if (s.err == EPIPE || s.err == ECONNRESET) s.message = "the target closed the connection";
  return s;
}

Status with_progress(Status s, const char* doing, uint64_t sent, uint64_t total) {
  s.message = strf("%s: %s (after %s)", doing, s.message.c_str(), progress_text(sent, total).c_str());
  return s;
}

}  // namespace

Status send_image(TransferSocket& sock, const std::string& image_path, ImageOffer& offer, TransferProgress& progress) {
  Fd file(open(image_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0)
    return Status::failure(errno, strf("cannot open the image %s: %s", image_path.c_str(), strerror(errno)));
  struct stat st;
  if (fstat(file.get(), &st) != 0)
    return Status::failure(errno, strf("fstat %s: %s", image_path.c_str(), strerror(errno)));
  if (!S_ISREG(st.st_mode) || st.st_size == 0)
    return Status::failure(EINVAL, strf("the image %s is empty or not a file", image_path.c_str()));
  const uint64_t total = uint64_t(st.st_size);
  offer.bytes = total;
  progress.total.store(total, std::memory_order_relaxed);
  if (Status s = head_page_hash(file.get(), total, offer.head_page_hash); !s.ok()) return s;
  posix_fadvise(file.get(), 0, 0, POSIX_FADV_SEQUENTIAL);

  if (Status s = sock.prepare(); !s.ok()) return s;
  std::vector<uint64_t> frame = encode_offer(offer);
  if (Status s = sock.write_all(frame.data(), frame.size() * 8); !s.ok())
    return with_progress(std::move(s), "sending the image offer", 0, total);

  off_t off = 0;
  while (uint64_t(off) < total) {
    short rev = 0;
    if (Status s = sock.wait(POLLOUT | POLLIN, rev); !s.ok())
      return with_progress(std::move(s), "sending the image", uint64_t(off), total);
    // Anything readable before the end is the target's early answer (a
    // refusal) or its hang-up: stop sending and read which.
    if (rev & POLLIN) {
      Answer a = read_answer(sock);
      if (!a.io.ok()) return with_progress(hung_up(std::move(a.io)), "sending the image", uint64_t(off), total);
      return judge(a.r, uint64_t(off), total);
    }
    size_t chunk = size_t(std::min<uint64_t>(sock.tuning().send_chunk, total - uint64_t(off)));
    ssize_t n = sendfile(sock.fd(), file.get(), &off, chunk);
    if (n > 0) {
      progress.done.store(uint64_t(off), std::memory_order_relaxed);
    } else if (n == 0) {
      return Status::failure(EIO, strf("the image %s shrank while being sent", image_path.c_str()));
    } else if (errno != EAGAIN && errno != EINTR) {
      int err = errno;
      // A target that refused and hung up may have said why first: its answer
      // is then still in our receive queue.
      if (!sock.cancelled()) {
        Answer a = read_answer(sock);
        if (a.io.ok()) return judge(a.r, uint64_t(off), total);
      }
      return with_progress(hung_up(sock.failure(err, strerror(err))), "sending the image", uint64_t(off), total);
    }
  }
  Answer a = read_answer(sock);
  if (!a.io.ok()) return with_progress(hung_up(std::move(a.io)), "waiting for the target's answer", total, total);
  return judge(a.r, total, total);
}

ImageSender::~ImageSender() {
  if (task_.running()) sock_->cancel();
  task_.join();
  if (fd_ >= 0) close(fd_);
}

void ImageSender::start(int fd, std::string image_path, const ImageOffer& offer, Done done) {
  fd_ = fd;
  sock_ = std::make_unique<TransferSocket>(fd, tuning_);
  path_ = std::move(image_path);
  offer_ = offer;
  task_.start([this] { result_ = send_image(*sock_, path_, offer_, progress_); },
              [this, done = std::move(done)] {
                close(fd_);
                fd_ = -1;
                Status result = std::move(result_);
                done(result);  // may destroy *this
              });
}

void ImageSender::cancel() {
  if (task_.running()) sock_->cancel();
}

}  // namespace vproc::daemon
