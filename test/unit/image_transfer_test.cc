// Moving a migration image between daemons: ImageSender and ImageReceiver over
// real sockets (loopback TCP and a Unix socketpair) with a real libev loop, and
// the failures a cut link or a misbehaving peer produces.
#include <arpa/inet.h>
#include <dirent.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <thread>

#include "daemon_test_support.h"
#include "image_receiver.h"
#include "image_sender.h"
#include "spool.h"
#include "transfer_wire.h"

using namespace vproc::daemon;
using vproc::daemon::test::TempDir;

namespace {

constexpr uint64_t kImageBytes = 64ull << 20;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A file of `bytes` pseudo-random bytes (splitmix64).
void write_random_file(const std::string& path, uint64_t bytes, uint64_t seed) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  std::vector<uint64_t> buf(1 << 17);
  for (uint64_t done = 0; done < bytes;) {
    for (uint64_t& w : buf) {
      uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      w = z ^ (z >> 31);
    }
    size_t n = size_t(std::min<uint64_t>(buf.size() * 8, bytes - done));
    REQUIRE(write(fd, buf.data(), n) == ssize_t(n));
    done += n;
  }
  close(fd);
}

uint64_t file_hash(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  struct stat st;
  REQUIRE(fstat(fd, &st) == 0);
  void* p = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  REQUIRE(p != MAP_FAILED);
  uint64_t h = XXH3_64bits(p, size_t(st.st_size));
  munmap(p, size_t(st.st_size));
  close(fd);
  return h;
}

// Both ends of a connection: [0] the sender's, [1] the receiver's.
struct SocketPair {
  int fd[2] = {-1, -1};
  ~SocketPair() {
    for (int f : fd)
      if (f >= 0) close(f);
  }
  // Hands one end over (to an ImageSender/ImageReceiver that closes it).
  int take(int i) { return std::exchange(fd[i], -1); }
};

void tcp_pair(SocketPair& p) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(l >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(l, 1) == 0);
  REQUIRE(getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  p.fd[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(connect(p.fd[0], reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  p.fd[1] = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  REQUIRE(p.fd[1] >= 0);
  close(l);
}

void unix_pair(SocketPair& p) { REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p.fd) == 0); }

size_t spool_entries(const Spool& spool) {
  size_t n = 0;
  if (DIR* d = opendir(spool.dir().c_str())) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

ImageOffer sample_offer() {
  ImageOffer o;
  o.migration = (7ull << 40) | 42;
  o.vpid = 4194305;
  o.source_node = 1;
  o.stdio_mask = 5;
  o.parent = 4194300;
  o.uid = 1000;
  o.gid = 100;
  o.flags = 2;
  return o;
}

// A loop, a spool and a source image; runs transfers to completion.
struct Bench {
  TempDir dir;
  Spool spool;
  std::string image;
  struct ev_loop* loop = ev_loop_new(EVFLAG_AUTO);

  explicit Bench(uint64_t image_bytes = kImageBytes) {
    Status s = spool.open(Spool::dir_for(dir.file("vprocd.sock")));
    INFO(s.message);
    REQUIRE(s.ok());
    image = dir.file("source.vpimg");
    if (image_bytes) write_random_file(image, image_bytes, 12345);
  }
  ~Bench() { ev_loop_destroy(loop); }

  // Runs the loop until `finished()` or 20 s pass (a tick wakes it to check).
  template <typename F>
  void run_until(F finished) {
    ev_timer tick;
    ev_timer_init(
        &tick, [](struct ev_loop*, ev_timer*, int) {}, 0.1, 0.1);
    ev_timer_start(loop, &tick);
    auto start = Clock::now();
    while (!finished() && seconds_since(start) < 20) ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &tick);
    if (!finished()) FAIL("the transfer did not end within 20 s");
  }
};

// The outcome of a sender/receiver pair on one loop.
struct Outcome {
  std::optional<Status> sent, received;
  ReceivedImage image;
  double seconds = 0;
};

Outcome transfer(Bench& b, SocketPair& p, TransferTuning tuning = {}, ReceiverLimits limits = {}) {
  Outcome out;
  ImageSender sender(b.loop, tuning);
  ImageReceiver receiver(b.loop, b.spool, limits, tuning);
  auto start = Clock::now();
  receiver.start(p.take(1), [&](const Status& s, const ReceivedImage& img) {
    out.received = s;
    out.image = img;
  });
  sender.start(p.take(0), b.image, sample_offer(), [&](const Status& s) { out.sent = s; });
  b.run_until([&] { return out.sent && out.received; });
  out.seconds = seconds_since(start);
  return out;
}

void check_intact(Bench& b, const Outcome& o) {
  INFO("sender: " << o.sent->message << "; receiver: " << o.received->message);
  REQUIRE(o.sent->ok());
  REQUIRE(o.received->ok());
  CHECK(o.image.path == b.spool.image_path(sample_offer().migration));
  CHECK(file_hash(o.image.path) == file_hash(b.image));
  const ImageOffer& got = o.image.offer;
  CHECK(got.bytes == kImageBytes);
  CHECK(got.vpid == 4194305);
  CHECK(got.migration == sample_offer().migration);
  CHECK(got.source_node == 1);
  CHECK(got.stdio_mask == 5);
  CHECK(got.parent == 4194300);
  CHECK(got.uid == 1000);
  CHECK(got.gid == 100);
  CHECK(got.flags == 2);
  WARN("64 MiB in " << o.seconds * 1000 << " ms: " << kImageBytes / o.seconds / 1e6 << " MB/s");
}

// A fake peer on its own thread (joined before the test ends).
struct FakePeer {
  std::thread thread;
  ~FakePeer() {
    if (thread.joinable()) thread.join();
  }
};

void write_exact(int fd, const void* p, size_t n) {
  auto* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    c += w;
    n -= size_t(w);
  }
}

size_t read_some(int fd, size_t n) {
  std::vector<char> buf(1 << 16);
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf.data(), std::min(buf.size(), n - got));
    if (r <= 0) break;
    got += size_t(r);
  }
  return got;
}

}  // namespace

TEST_CASE("image transfer: the frames round-trip, garbage is refused", "[transfer]") {
  ImageOffer o = sample_offer();
  o.bytes = 1ull << 33;
  o.head_page_hash = 0x0123456789abcdefull;
  std::vector<uint64_t> f = encode_offer(o);
  ImageOffer back;
  REQUIRE(decode_offer(f.data(), f.size() * 8, back));
  CHECK(back.bytes == o.bytes);
  CHECK(back.head_page_hash == o.head_page_hash);
  CHECK(back.migration == o.migration);

  std::vector<uint64_t> r = encode_received({28, "not enough space", 99});
  ImageReceived rb;
  REQUIRE(decode_received(r.data(), r.size() * 8, rb));
  CHECK(rb.err == 28);
  CHECK(rb.message == "not enough space");
  CHECK(rb.bytes == 99);

  uint64_t junk[4] = {0, 0xffffffffffffffffull, 1, 2};
  CHECK_FALSE(decode_offer(junk, sizeof junk, back));
}

TEST_CASE("image transfer: the spool directory and its files", "[transfer]") {
  TempDir dir;
  CHECK(Spool::dir_for("/run/vproc/vprocd.sock") == "/run/vproc/spool");
  CHECK(Spool::dir_for("/vprocd.sock") == "/spool");
  Spool spool;
  std::string d = Spool::dir_for(dir.file("vprocd.sock"));
  REQUIRE(mkdir(d.c_str(), 0755) == 0);
  REQUIRE(spool.open(d).ok());
  struct stat st;
  REQUIRE(stat(d.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0711);  // searchable: the writers run as the processes' users
  CHECK(spool.image_path(42) == d + "/mig-2a.vpimg");
  std::string user_dir;
  REQUIRE(spool.make_user_dir(42, getuid(), getgid(), user_dir).ok());
  CHECK(user_dir == d + "/mig-2a.d");
  REQUIRE(stat(user_dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  close(open((user_dir + "/image.vpimg.tmp-1").c_str(), O_CREAT | O_WRONLY, 0600));
  close(open(spool.image_path(42).c_str(), O_CREAT | O_WRONLY, 0600));
  spool.remove_migration(42);
  CHECK(spool_entries(spool) == 0);

  // What a dead daemon left: an image, a writer's temporary file, a directory.
  for (const char* f : {"mig-1.vpimg", "mig-2.vpimg.tmp-123", "other"})
    close(open((d + "/" + f).c_str(), O_CREAT | O_WRONLY, 0600));
  REQUIRE(mkdir((d + "/mig-3.d").c_str(), 0700) == 0);
  close(open((d + "/mig-3.d/image").c_str(), O_CREAT | O_WRONLY, 0600));
  CHECK(spool.remove_stale() == 3);
  CHECK(spool_entries(spool) == 1);  // "other" is not ours to remove
  CHECK(access((d + "/other").c_str(), F_OK) == 0);

  // A symlink is not a spool.
  REQUIRE(symlink(d.c_str(), dir.file("link").c_str()) == 0);
  Spool other;
  CHECK(other.open(dir.file("link")).err == ENOTDIR);
}

TEST_CASE("image transfer: 64 MiB over loopback TCP arrive intact", "[transfer]") {
  Bench b;
  SocketPair p;
  tcp_pair(p);
  check_intact(b, transfer(b, p));
}

TEST_CASE("image transfer: 64 MiB over a socketpair arrive intact, spliced or copied", "[transfer]") {
  Bench b;
  TransferTuning t;
  t.splice_receive = GENERATE(true, false);
  INFO("splice_receive " << t.splice_receive);
  SocketPair p;
  unix_pair(p);
  check_intact(b, transfer(b, p, t));
}

TEST_CASE("image transfer: a source that hangs up mid-transfer leaves no spool file", "[transfer]") {
  Bench b(0);
  SocketPair p;
  tcp_pair(p);
  FakePeer source;
  source.thread = std::thread([fd = p.take(0)] {
    ImageOffer o = sample_offer();
    o.bytes = kImageBytes;
    std::vector<uint64_t> f = encode_offer(o);
    write_exact(fd, f.data(), f.size() * 8);
    std::vector<char> some(1 << 20, 'x');
    write_exact(fd, some.data(), some.size());
    close(fd);
  });
  std::optional<Status> got;
  ImageReceiver receiver(b.loop, b.spool);
  receiver.start(p.take(1), [&](const Status& s, const ReceivedImage&) { got = s; });
  b.run_until([&] { return got.has_value(); });
  INFO(got->message);
  CHECK(got->err == EPIPE);
  CHECK(got->message == "the source closed the connection after 1.0 MiB of 64 MiB");
  CHECK(spool_entries(b.spool) == 0);
}

TEST_CASE("image transfer: a target that hangs up mid-transfer is a clear error", "[transfer]") {
  Bench b;
  SocketPair p;
  tcp_pair(p);
  FakePeer target;
  target.thread = std::thread([fd = p.take(1)] {
    read_some(fd, 4 << 20);
    close(fd);
  });
  std::optional<Status> got;
  ImageSender sender(b.loop);
  sender.start(p.take(0), b.image, sample_offer(), [&](const Status& s) { got = s; });
  b.run_until([&] { return got.has_value(); });
  INFO(got->message);
  CHECK((got->err == ECONNRESET || got->err == EPIPE));
  CHECK_THAT(got->message, Catch::StartsWith("sending the image: the target closed the connection (after "));
  CHECK_THAT(got->message, Catch::EndsWith(" of 64 MiB)"));
  CHECK(sender.bytes_total() == kImageBytes);
}

TEST_CASE("image transfer: the target refuses an image larger than its free space", "[transfer]") {
  Bench b(0);
  // Sparse: 1 TiB that takes no room, larger than the test machine's disk.
  int fd = open(b.image.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(ftruncate(fd, off_t(1ull << 40)) == 0);
  close(fd);
  uint64_t free_bytes = 0;
  REQUIRE(b.spool.free_bytes(free_bytes).ok());
  if (free_bytes >= (1ull << 40)) {
    WARN("skipped: the spool's file system has 1 TiB free");
    return;
  }

  SocketPair p;
  tcp_pair(p);
  auto start = Clock::now();
  Outcome o;
  {
    ImageSender sender(b.loop);
    ImageReceiver receiver(b.loop, b.spool, ReceiverLimits{~0ull});
    receiver.start(p.take(1), [&](const Status& s, const ReceivedImage&) { o.received = s; });
    sender.start(p.take(0), b.image, sample_offer(), [&](const Status& s) { o.sent = s; });
    b.run_until([&] { return o.sent && o.received; });
  }
  std::string expected = "not enough space in " + b.spool.dir() + ": need 1.0 TiB, have ";
  // The sender stops at the refusal and reports the target's own words.
  CHECK(o.sent->err == ENOSPC);
  CHECK_THAT(o.sent->message, Catch::StartsWith(expected));
  CHECK(o.received->err == ENOSPC);
  CHECK_THAT(o.received->message, Catch::StartsWith(expected));
  CHECK(seconds_since(start) < 3);
  CHECK(spool_entries(b.spool) == 0);
}

TEST_CASE("image transfer: an image above the node's limit is refused", "[transfer]") {
  Bench b;
  SocketPair p;
  unix_pair(p);
  Outcome o = transfer(b, p, {}, ReceiverLimits{1 << 20});
  CHECK(o.sent->err == EFBIG);
  CHECK(o.sent->message == "the image (64 MiB) is larger than this node accepts (1.0 MiB)");
  CHECK(o.received->err == EFBIG);
  CHECK(spool_entries(b.spool) == 0);
}

TEST_CASE("image transfer: a silent peer times out on either side", "[transfer]") {
  Bench b;
  TransferTuning t;
  t.stall_ms = 300;
  SocketPair p;
  tcp_pair(p);
  Outcome o;
  ImageSender sender(b.loop, t);
  ImageReceiver receiver(b.loop, b.spool, {}, t);
  auto start = Clock::now();
  // The sender's peer takes nothing and says nothing; the receiver's peer
  // says nothing. (Each end's counterpart here is a bare socket.)
  SocketPair q;
  unix_pair(q);
  sender.start(p.take(0), b.image, sample_offer(), [&](const Status& s) { o.sent = s; });
  receiver.start(q.take(1), [&](const Status& s, const ReceivedImage&) { o.received = s; });
  b.run_until([&] { return o.sent && o.received; });
  INFO(o.sent->message << " / " << o.received->message);
  CHECK(o.sent->err == ETIMEDOUT);
  CHECK_THAT(o.sent->message, Catch::StartsWith("sending the image: no progress for 0.30 s"));
  CHECK(o.received->err == ETIMEDOUT);
  CHECK_THAT(o.received->message, Catch::StartsWith("waiting for the image offer: no progress for 0.30 s"));
  CHECK(seconds_since(start) < 3);
  CHECK(spool_entries(b.spool) == 0);
}

TEST_CASE("image transfer: cancel ends both sides at once", "[transfer]") {
  Bench b;
  SocketPair p;
  unix_pair(p);
  Outcome o;
  ImageSender sender(b.loop);
  // A receiver that never starts reading keeps the sender blocked: cancel it.
  sender.start(p.take(0), b.image, sample_offer(), [&](const Status& s) { o.sent = s; });
  ev_timer t;
  ev_timer_init(
      &t, [](struct ev_loop*, ev_timer* w, int) { static_cast<ImageSender*>(w->data)->cancel(); }, 0.1, 0);
  t.data = &sender;
  ev_timer_start(b.loop, &t);
  b.run_until([&] { return o.sent.has_value(); });
  CHECK(o.sent->err == ECANCELED);
  CHECK_THAT(o.sent->message, Catch::Contains("cancelled"));

  // Destroying a receiver mid-transfer removes its partial file.
  SocketPair q;
  unix_pair(q);
  FakePeer source;
  source.thread = std::thread([fd = q.fd[0]] {
    ImageOffer off = sample_offer();
    off.bytes = kImageBytes;
    std::vector<uint64_t> f = encode_offer(off);
    write_exact(fd, f.data(), f.size() * 8);
    std::vector<char> some(1 << 20, 'x');
    write_exact(fd, some.data(), some.size());
  });
  {
    ImageReceiver r2(b.loop, b.spool);
    r2.start(q.take(1), [&](const Status&, const ReceivedImage&) { FAIL("done after destruction"); });
    auto start = Clock::now();
    while (r2.bytes_received() < (1u << 20) && seconds_since(start) < 5)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(spool_entries(b.spool) == 1);
  }
  CHECK(spool_entries(b.spool) == 0);
}
