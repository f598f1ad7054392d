#include "migrate_progress.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <system_error>

#include "daemon_client.h"
#include "human_units.h"

namespace vproc::tools {
namespace {

using Clock = std::chrono::steady_clock;

// A migration over sooner shows only its result line.
constexpr auto kShowAfter = std::chrono::milliseconds(300);
constexpr auto kInterval = std::chrono::milliseconds(100);
// A question the daemon forwards to another node; the answer is stale after this.
constexpr int kCallTimeoutMs = 3000;
constexpr int kBarCells = 20, kMinBarCells = 10;
// The widest count and rate, with their separators: "  1023 MiB / 1023 MiB", "  1023 MiB/s".
constexpr size_t kCountRoom = 21, kRateRoom = 12;

const char* stage_word(wire::MigrateStage s) {
  switch (s) {
    case wire::MigrateStage::Checking: return "checking";
    case wire::MigrateStage::Checkpointing: return "checkpointing";
    case wire::MigrateStage::Sending: return "sending";
    case wire::MigrateStage::Restoring: return "restoring";
    case wire::MigrateStage::Committing: return "committing";
    case wire::MigrateStage::None: break;
  }
  return "";
}

std::string bar(int cells, uint64_t done, uint64_t total) {
  int full = int(double(cells) * double(std::min(done, total)) / double(total));
  return "[" + std::string(size_t(full), '#') + std::string(size_t(cells - full), '.') + "]";
}

// The first `columns` columns of `s`, cut at a code point boundary.
std::string truncated(const std::string& s, size_t columns) {
  size_t seen = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) == 0x80) continue;
    if (seen++ == columns) return s.substr(0, i);
  }
  return s;
}

void write_all(const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = write(STDERR_FILENO, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a terminal that went away: nothing to show it on
    done += size_t(n);
  }
}

int terminal_columns() {
  struct winsize ws {};
  return ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
}

}  // namespace

size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

std::string progress_line(uint32_t vpid, const std::string& node, const wire::Progress& p, double rate, int width) {
  if (p.stage == wire::MigrateStage::None) return "";
  const size_t limit = size_t(width > 1 ? width : 80) - 1;
  std::string head = "vpid " + std::to_string(vpid) + " \u2192 " + node + "  " + stage_word(p.stage);
  std::string count;
  if (p.bytes_total) {
    count = human_bytes(std::min(p.bytes_done, p.bytes_total)) + " / " + human_bytes(p.bytes_total);
  } else if (p.bytes_done) {
    count = human_bytes(p.bytes_done);
  }
  if (count.empty()) return truncated(head, limit);  // a stage without bytes: its name
  std::string speed = rate >= 1 ? human_bytes(uint64_t(rate)) + "/s" : "";
  auto line = [&](int cells, bool with_speed) {
    std::string l = head;
    if (cells) l += "  " + bar(cells, p.bytes_done, p.bytes_total);
    l += "  " + count;
    if (with_speed && !speed.empty()) l += "  " + speed;
    return l;
  };
  // The bar keeps its size while the count and the rate change: it leaves
  // room for their widest. Too narrow: the bar shrinks, then the rate goes,
  // then the bar; then the line is cut.
  int cells = 0;
  bool with_speed = true;
  if (p.bytes_total) {
    size_t fixed = display_width(head) + 4 + kCountRoom;  // "  [", "]"
    if (fixed + kRateRoom + kMinBarCells <= limit) {
      cells = int(std::min(size_t(kBarCells), limit - fixed - kRateRoom));
    } else if (fixed + kMinBarCells <= limit) {
      cells = int(std::min(size_t(kBarCells), limit - fixed));
      with_speed = false;
    }
  }
  if (std::string l = line(cells, with_speed); display_width(l) <= limit) return l;
  if (std::string l = line(0, true); display_width(l) <= limit) return l;
  return truncated(line(0, false), limit);
}

struct ProgressDisplay::State {
  std::string socket, node;
  uint32_t vpid = 0;
  std::mutex mu;
  std::condition_variable wake;
  bool stopped = false;
  bool in_call = false;  // the poller waits for the daemon
  size_t shown = 0;      // columns of the line on the terminal (0: none)
  std::string last;      // that line

  // Both under `mu`.
  void draw(const std::string& line) {
    if (shown && line == last) return;
    size_t w = display_width(line);
    std::string out = "\r" + line;
    if (w < shown) out += std::string(shown - w, ' ') + "\r" + line;  // over a longer one
    write_all(out);
    shown = w;
    last = line;
  }
  void erase() {
    if (!shown) return;
    write_all("\r" + std::string(shown, ' ') + "\r");
    shown = 0;
  }
};

namespace {

// Bytes per second within a stage, smoothed over the last few answers.
class RateMeter {
 public:
  double update(const wire::Progress& p, Clock::time_point t) {
    if (p.stage != stage_ || p.bytes_done < bytes_) {
      rate_ = 0;
    } else if (double dt = std::chrono::duration<double>(t - at_).count(); dt > 0) {
      double now = double(p.bytes_done - bytes_) / dt;
      rate_ = rate_ > 0 ? 0.5 * rate_ + 0.5 * now : now;
    }
    stage_ = p.stage;
    bytes_ = p.bytes_done;
    at_ = t;
    return rate_;
  }

 private:
  wire::MigrateStage stage_ = wire::MigrateStage::None;
  uint64_t bytes_ = 0;
  Clock::time_point at_;
  double rate_ = 0;
};

void poll_loop(std::shared_ptr<ProgressDisplay::State> s) {
  DaemonClient daemon;
  bool connected = false;
  RateMeter meter;
  auto next = Clock::now() + kShowAfter;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(s->mu);
      s->wake.wait_until(lock, next, [&] { return s->stopped; });
      if (s->stopped) return;
      s->in_call = true;
    }
    next = Clock::now() + kInterval;
    wire::Progress p;
    bool answered = false;
    try {
      if (!connected) connected = daemon.connect(s->socket, kCallTimeoutMs) == 0;
      if (connected) {
        wire::Reply r = daemon.call(wire::MigrateProgress{s->vpid}, kCallTimeoutMs);
        if (const auto* q = std::get_if<wire::Progress>(&r)) {
          p = *q;
          answered = true;
        }
      }
    } catch (const std::exception&) {
      // A daemon that does not know the question (an older one) or went away:
      // no display, the migration goes on.
    }
    double rate = meter.update(p, Clock::now());
    std::lock_guard<std::mutex> lock(s->mu);
    s->in_call = false;
    if (s->stopped || !answered) return;
    if (p.stage != wire::MigrateStage::None) s->draw(progress_line(s->vpid, s->node, p, rate, terminal_columns()));
  }
}

}  // namespace

ProgressDisplay::ProgressDisplay(std::string socket_path, uint32_t vpid, std::string node) {
  if (!isatty(STDERR_FILENO)) return;
  auto s = std::make_shared<State>();
  s->socket = std::move(socket_path);
  s->node = std::move(node);
  s->vpid = vpid;
  // The poller takes no signals: Ctrl-C stays the main thread's.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    thread_ = std::thread(poll_loop, s);
    state_ = std::move(s);
  } catch (const std::system_error&) {
    // No thread, no display.
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void ProgressDisplay::stop() {
  if (!state_) return;
  bool busy;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopped = true;
    state_->erase();
    busy = state_->in_call;
  }
  state_->wake.notify_all();
  // A poller waiting for an answer may wait a while (a forwarded question):
  // it draws nothing more and ends by itself.
  if (busy) {
    thread_.detach();
  } else {
    thread_.join();
  }
  state_.reset();
}

}  // namespace vproc::tools
