// Which file descriptors are signalfds (state().signalfd_bits).
//
// A read from a signalfd returns struct signalfd_siginfo records whose ssi_pid
// is the sender's real pid. read() is the hottest call we wrap, so whether an fd
// needs that rewrite must cost one bit test. Descriptors >= 1024 are not
// tracked (their reads are not rewritten; a documented limit).
//
// The marks follow the descriptor table: signalfd() sets one, close()/dup2()/
// dup3()/close_range() clear or copy them (fd_lifetime.cc, wrap_fd.cc F_DUPFD).
// A fork child inherits the marks with the descriptors.
#pragma once

#include <atomic>
#include <cstdint>

#include "state.h"

namespace vproc::lib {

inline constexpr int kTrackedFds = 1024;

inline bool is_signalfd(int fd) {
  return unsigned(fd) < unsigned(kTrackedFds) &&
         ((state().signalfd_bits[unsigned(fd) / 64].load(std::memory_order_relaxed) >>
           (unsigned(fd) % 64)) & 1);
}

inline void set_signalfd_mark(int fd, bool on) {
  if (unsigned(fd) >= unsigned(kTrackedFds)) return;
  uint64_t bit = uint64_t{1} << (unsigned(fd) % 64);
  std::atomic<uint64_t>& word = state().signalfd_bits[unsigned(fd) / 64];
  if (on)
    word.fetch_or(bit, std::memory_order_relaxed);
  else if (word.load(std::memory_order_relaxed) & bit)
    word.fetch_and(~bit, std::memory_order_relaxed);
}

// Clears the marks of every fd in [first, last].
inline void clear_signalfd_marks(unsigned first, unsigned last) {
  for (unsigned fd = first; fd <= last && fd < unsigned(kTrackedFds); ++fd) {
    if (fd % 64 == 0 && last - fd >= 63) {  // a whole word at once
      state().signalfd_bits[fd / 64].store(0, std::memory_order_relaxed);
      fd += 63;
      continue;
    }
    set_signalfd_mark(int(fd), false);
  }
}

// Marks the signalfds among descriptors inherited across exec (the marks of
// the previous image are gone). Scans /proc/self/fd; for the constructor.
void adopt_inherited_signalfds();

}  // namespace vproc::lib
