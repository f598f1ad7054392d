#include "range_hasher.h"

#include <signal.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>

#include "host_file.h"

namespace vproc::image {
namespace {

enum : uint8_t { kUnchecked, kOk, kMismatch, kUnreadable };

// Reading a mapped page past the file's end (the file was truncated after we
// mapped it) raises SIGBUS in the reading thread. The handler jumps back into
// that thread's worker loop, which counts the range as unreadable. Any other
// SIGBUS gets the previous action back and the faulting access is retried
// under it (for a fault, returning from the handler re-runs the instruction).
thread_local sigjmp_buf* t_on_bus = nullptr;
struct sigaction g_old_bus;

void on_sigbus(int, siginfo_t*, void*) {
  if (sigjmp_buf* j = t_on_bus) siglongjmp(*j, 1);
  sigaction(SIGBUS, &g_old_bus, nullptr);
}

class Checker {
 public:
  Checker(int fd, const char* map, uint64_t map_size, const std::vector<HashedRange>& ranges)
      : fd_(fd), map_(map), map_size_(map_size), ranges_(ranges), state_(ranges.size(), kUnchecked) {}

  // Runs the workers (this thread is one of them) until every range is
  // checked or one below the rest is bad.
  std::optional<RangeFailure> run() {
    size_t want = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), ranges_.size());
    std::vector<std::thread> helpers;
    helpers.reserve(want);  // only starting a thread can throw below
    for (size_t i = 1; i < want; ++i) {
      try {
        helpers.emplace_back([this] { work(); });
      } catch (const std::system_error&) {
        break;  // out of threads: fewer workers, same result
      }
    }
    work();
    for (std::thread& t : helpers) t.join();
    // Every range below the first bad one was taken from the counter, and
    // hence checked, before its worker stopped.
    for (size_t i = 0; i < state_.size(); ++i)
      if (state_[i] != kOk) return RangeFailure{i, state_[i] != kMismatch};
    return std::nullopt;
  }

 private:
  void work() {
    sigjmp_buf on_bus;
    volatile size_t current = 0;  // read after the jump: must live in memory
    if (map_) {
      // Saves the mask: the jump leaves the handler, where SIGBUS is blocked.
      if (sigsetjmp(on_bus, 1) != 0) bad(current, kUnreadable);
      t_on_bus = &on_bus;
    }
    for (;;) {
      size_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= ranges_.size() || i > first_bad_.load(std::memory_order_relaxed)) break;
      current = i;
      uint8_t s = check(ranges_[i]);
      if (s == kOk)
        state_[i] = kOk;
      else
        bad(i, s);
    }
    t_on_bus = nullptr;
  }

  uint8_t check(const HashedRange& r) const {
    uint64_t h = 0;
    if (map_) {
      if (r.offset > map_size_ || r.size > map_size_ - r.offset) return kUnreadable;
      h = XXH3_64bits(map_ + r.offset, r.size);
    } else if (!hash_file_range(fd_, r.offset, r.size, &h)) {
      return kUnreadable;
    }
    return h == r.hash ? kOk : kMismatch;
  }

  // Records range I as bad; workers stop taking ranges above the lowest one.
  void bad(size_t i, uint8_t s) {
    state_[i] = s;
    size_t seen = first_bad_.load(std::memory_order_relaxed);
    while (i < seen && !first_bad_.compare_exchange_weak(seen, i, std::memory_order_relaxed)) {
    }
  }

  int fd_;
  const char* map_;  // null: pread
  uint64_t map_size_;
  const std::vector<HashedRange>& ranges_;
  std::vector<uint8_t> state_;  // one byte per range, each written by one worker; read after join
  std::atomic<size_t> next_{0};
  std::atomic<size_t> first_bad_{SIZE_MAX};
};

// The mapping and our SIGBUS handler, for the duration of one check.
class MappedForCheck {
 public:
  MappedForCheck(int fd, uint64_t size) : size_(size) {
    void* m = size > 0 ? mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (m == MAP_FAILED) return;
    map_ = static_cast<const char*>(m);
    struct sigaction sa = {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &g_old_bus);
  }
  ~MappedForCheck() {
    if (!map_) return;
    sigaction(SIGBUS, &g_old_bus, nullptr);
    munmap(const_cast<char*>(map_), size_);
  }
  MappedForCheck(const MappedForCheck&) = delete;
  MappedForCheck& operator=(const MappedForCheck&) = delete;
  const char* data() const { return map_; }  // null if the file could not be mapped

 private:
  const char* map_ = nullptr;
  uint64_t size_;
};

}  // namespace

std::optional<RangeFailure> check_range_hashes(int fd, uint64_t file_size, const std::vector<HashedRange>& ranges) {
  if (ranges.empty()) return std::nullopt;
  MappedForCheck m(fd, file_size);
  return Checker(fd, m.data(), file_size, ranges).run();
}

}  // namespace vproc::image
