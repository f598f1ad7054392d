// Checking the XXH3-64 of many ranges of one file, fast: what verify_data()
// does with an image's chunks and blobs (a 1 GiB image is 256 chunks of 4 MiB).
//
// The file is mapped read-only and the ranges are hashed straight from the
// page cache (no copy into a buffer) by hardware_concurrency() threads taking
// ranges in order from a shared counter. If the file cannot be mapped, the
// same threads pread() instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace vproc::image {

// SIZE bytes at OFFSET of the file whose XXH3-64 should be HASH.
struct HashedRange {
  uint64_t offset = 0, size = 0, hash = 0;
};

struct RangeFailure {
  size_t index = 0;         // into the ranges given
  bool unreadable = false;  // beyond the end of the file or a read error; else a hash mismatch
};

// The first range, in index order, that cannot be read or does not hash to its
// hash; nothing if all match. FILE_SIZE is the file's size when it was opened;
// a file truncated meanwhile makes the ranges past its new end unreadable (the
// mapping's SIGBUS is caught), never kills the caller. Not reentrant: it
// installs a SIGBUS handler for its duration (the tools are single-threaded).
std::optional<RangeFailure> check_range_hashes(int fd, uint64_t file_size, const std::vector<HashedRange>& ranges);

}  // namespace vproc::image
