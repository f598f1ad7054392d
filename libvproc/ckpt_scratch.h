// Memory for the snapshot writer: it runs in a copy of a process that may have
// been interrupted inside malloc (its locks possibly held), so it takes pages
// straight from mmap and never frees them (the process exits when done).
#pragma once

#include <sys/mman.h>
#include <sys/syscall.h>

#include <cstddef>
#include <cstdint>

#include "raw_syscall.h"

namespace vproc::lib {

class Scratch {
 public:
  // Reserves `bytes` of address space; pages cost only when touched.
  bool init(size_t bytes) {
    long r = raw::sys(SYS_mmap, 0, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw::failed(r)) return false;
    base_ = reinterpret_cast<char*>(r);
    cap_ = bytes;
    used_ = 0;
    return true;
  }
  // `n` bytes aligned to `align`, or nullptr when the reservation is used up.
  void* take(size_t n, size_t align = 16) {
    size_t at = (used_ + align - 1) & ~(align - 1);
    if (at + n > cap_) return nullptr;
    used_ = at + n;
    return base_ + at;
  }
  template <typename T>
  T* take_array(size_t count) {
    return static_cast<T*>(take(count * sizeof(T), alignof(T) < 16 ? 16 : alignof(T)));
  }
  size_t used() const { return used_; }
  uint64_t start() const { return reinterpret_cast<uint64_t>(base_); }
  uint64_t end() const { return start() + cap_; }
  void release() {
    if (base_) raw::sys(SYS_munmap, base_, cap_);
    base_ = nullptr;
  }

 private:
  char* base_ = nullptr;
  size_t cap_ = 0, used_ = 0;
};

}  // namespace vproc::lib
