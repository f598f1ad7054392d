// Throughput of the migration image transfer (vprocd/image_sender.h,
// image_receiver.h): the same code the daemons run, without the event loop.
//
//   transfer_bench local FILE SPOOL [OPTIONS]      loopback TCP and a socketpair, in-process
//   transfer_bench receive PORT SPOOL [OPTIONS]    one transfer from a `send`, then exit
//   transfer_bench send HOST PORT FILE [OPTIONS]
// OPTIONS: --copy (recv + pwrite instead of splice), --sndbuf N, --rcvbuf N,
// --chunk MIB (sendfile per call), --pipe KIB (splice pipe size), --buffer KIB
// (recv buffer with --copy). Prints "<what>: <MiB> MiB in <s> s = <MB/s> MB/s".
// bench/transfer_bench.sh runs it over loopback and over a veth pair.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "image_receiver.h"
#include "image_sender.h"
#include "spool.h"

using namespace vproc::daemon;

namespace {

[[noreturn]] void die(const std::string& what) {
  fprintf(stderr, "transfer_bench: %s\n", what.c_str());
  exit(1);
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// CPU time of this process so far (user + system, softirq work included when
// it ran on our account): on a shared machine a steadier figure than MB/s.
double cpu_s() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void report(const char* what, uint64_t bytes, double seconds, double cpu) {
  printf("%-24s %5.0f MiB in %6.3f s, cpu %5.2f s = %6.0f MB/s\n", what, double(bytes) / (1 << 20), seconds, cpu,
         double(bytes) / seconds / 1e6);
  fflush(stdout);
}

// The receive side of one transfer; the file is removed afterwards.
void receive_one(int fd, const Spool& spool, const TransferTuning& t, Status& s, uint64_t& bytes) {
  TransferSocket sock(fd, t);
  TransferProgress progress;
  ReceivedImage img;
  s = receive_image(sock, spool, ReceiverLimits{}, img, progress);
  bytes = img.offer.bytes;
  if (s.ok()) unlink(img.path.c_str());
  close(fd);
}

uint64_t send_one(int fd, const std::string& file, const TransferTuning& t, Status& s) {
  TransferSocket sock(fd, t);
  TransferProgress progress;
  ImageOffer offer;
  offer.migration = uint64_t(getpid()) << 8 | uint64_t(fd);
  s = send_image(sock, file, offer, progress);
  close(fd);
  return offer.bytes;
}

// Both ends in this process, each on its own thread as in the daemons.
void local_run(const char* what, int a, int b, const std::string& file, const Spool& spool, const TransferTuning& t) {
  Status sent, received;
  uint64_t bytes = 0;
  double start = now_s(), cpu = cpu_s();
  std::thread rx([&] { receive_one(b, spool, t, received, bytes); });
  send_one(a, file, t, sent);
  rx.join();
  double secs = now_s() - start;
  if (!sent.ok() || !received.ok()) die(std::string(what) + ": " + sent.message + " / " + received.message);
  report(what, bytes, secs, cpu_s() - cpu);
}

int listen_on(int port) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 4) != 0)
    die(std::string("listen: ") + strerror(errno));
  return l;
}

int connect_to(const char* host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) die(std::string("not an IPv4 address: ") + host);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  // The receiver may still be starting.
  for (int i = 0; connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0; ++i) {
    if (i == 100) die(std::string("connect: ") + strerror(errno));
    usleep(20000);
  }
  return fd;
}

Spool open_spool(const char* dir) {
  Spool spool;
  if (Status s = spool.open(dir); !s.ok()) die(s.message);
  return spool;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  TransferTuning t;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&] {
      if (++i == argc) die("option " + a + " needs a value");
      return atol(argv[i]);
    };
    if (a == "--copy") {
      t.splice_receive = false;
    } else if (a == "--sndbuf") {
      t.sndbuf = int(value());
    } else if (a == "--rcvbuf") {
      t.rcvbuf = int(value());
    } else if (a == "--chunk") {
      t.send_chunk = size_t(value()) << 20;
    } else if (a == "--pipe") {
      t.pipe_bytes = int(value()) << 10;
    } else if (a == "--buffer") {
      t.copy_buffer = size_t(value()) << 10;
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() == 3 && pos[0] == "local") {
    Spool spool = open_spool(pos[2].c_str());
    int l = listen_on(0);
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
    int c = connect_to("127.0.0.1", ntohs(a.sin_port));
    int s = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    close(l);
    local_run(t.splice_receive ? "loopback TCP (splice)" : "loopback TCP (copy)", c, s, pos[1], spool, t);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    local_run(t.splice_receive ? "socketpair (splice)" : "socketpair (copy)", sv[0], sv[1], pos[1], spool, t);
    return 0;
  }
  if (pos.size() == 3 && pos[0] == "receive") {
    Spool spool = open_spool(pos[2].c_str());
    int l = listen_on(atoi(pos[1].c_str()));
    printf("listening\n");
    fflush(stdout);
    int fd = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    double start = now_s(), cpu = cpu_s();
    Status s;
    uint64_t bytes = 0;
    receive_one(fd, spool, t, s, bytes);
    if (!s.ok()) die("receive: " + s.message);
    report(t.splice_receive ? "received (splice)" : "received (copy)", bytes, now_s() - start, cpu_s() - cpu);
    return 0;
  }
  if (pos.size() == 4 && pos[0] == "send") {
    int fd = connect_to(pos[1].c_str(), atoi(pos[2].c_str()));
    double start = now_s(), cpu = cpu_s();
    Status s;
    uint64_t bytes = send_one(fd, pos[3], t, s);
    if (!s.ok()) die("send: " + s.message);
    report("sent (until the answer)", bytes, now_s() - start, cpu_s() - cpu);
    return 0;
  }
  fprintf(stderr,
          "usage: transfer_bench local FILE SPOOL | receive PORT SPOOL | send HOST PORT FILE\n"
          "       [--copy] [--sndbuf N] [--rcvbuf N] [--chunk MIB] [--pipe KIB] [--buffer KIB]\n");
  return 2;
}
