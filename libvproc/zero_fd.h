// File descriptor fields of the library's state whose "none" (-1) is stored
// as all-zero bits.
//
// ProcessState is the library's one global. If every byte of its initial
// value is zero the linker puts it in .bss: only the pages a process touches
// get page-table entries. With one -1 in it, all of it (hundreds of KiB) is
// .data, mapped from the library file, and each read maps 16 neighbouring
// pages (the kernel's fault-around) that every fork() copies and every exit
// tears down. These types store fd + 1 and read like the int they replace.
#pragma once

#include <atomic>

namespace vproc::lib {

// A plain int fd field; -1 when zero-initialized.
class ZeroFd {
 public:
  constexpr ZeroFd() = default;
  operator int() const { return plus1_ - 1; }
  ZeroFd& operator=(int fd) {
    plus1_ = fd + 1;
    return *this;
  }

 private:
  int plus1_ = 0;
};

// std::atomic<int> for an fd; -1 when zero-initialized.
class AtomicFd {
 public:
  constexpr AtomicFd() = default;
  int load(std::memory_order o = std::memory_order_seq_cst) const { return v_.load(o) - 1; }
  void store(int fd, std::memory_order o = std::memory_order_seq_cst) { v_.store(fd + 1, o); }
  int exchange(int fd, std::memory_order o = std::memory_order_seq_cst) { return v_.exchange(fd + 1, o) - 1; }
  bool compare_exchange_strong(int& expected, int fd, std::memory_order o = std::memory_order_seq_cst) {
    int e = expected + 1;
    bool ok = v_.compare_exchange_strong(e, fd + 1, o);
    if (!ok) expected = e - 1;
    return ok;
  }

 private:
  std::atomic<int> v_{0};
};

}  // namespace vproc::lib
