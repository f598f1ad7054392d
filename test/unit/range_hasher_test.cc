// check_range_hashes: the first bad range in index order whichever thread
// finds it, unreadable ranges (outside the file, or cut off by a truncation
// after the mapping: SIGBUS caught), and the pread fallback.
#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <catch2/catch.hpp>
#include <string>

#include "range_hasher.h"

using namespace vproc::image;

namespace {

constexpr uint64_t kRange = 64 << 10;
constexpr size_t kRanges = 200;  // more than the workers, so that they interleave

// An unlinked file of kRanges ranges of distinct bytes, and their hashes.
struct Data {
  int fd = -1;
  std::vector<HashedRange> ranges;
  Data() {
    char tmpl[] = "/tmp/vproc-range-hasher-XXXXXX";
    fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    unlink(tmpl);
    std::string block(kRange, '\0');
    for (size_t i = 0; i < kRanges; ++i) {
      for (size_t j = 0; j < kRange; ++j) block[j] = char(i * 31 + j * 7);
      REQUIRE(pwrite(fd, block.data(), kRange, off_t(i * kRange)) == ssize_t(kRange));
      ranges.push_back({i * kRange, kRange, XXH3_64bits(block.data(), kRange)});
    }
  }
  ~Data() { close(fd); }
  uint64_t size() const { return kRanges * kRange; }
};

}  // namespace

TEST_CASE("range hasher: all good") {
  Data d;
  CHECK_FALSE(check_range_hashes(d.fd, d.size(), d.ranges));
  CHECK_FALSE(check_range_hashes(d.fd, d.size(), {}));
}

TEST_CASE("range hasher: reports the lowest bad range") {
  Data d;
  for (size_t i : {150, 7, 199, 8}) d.ranges[i].hash ^= 1;
  for (int round = 0; round < 20; ++round) {  // whichever worker gets there first
    auto bad = check_range_hashes(d.fd, d.size(), d.ranges);
    REQUIRE(bad);
    CHECK(bad->index == 7);
    CHECK_FALSE(bad->unreadable);
  }
}

TEST_CASE("range hasher: a range outside the file is unreadable") {
  Data d;
  d.ranges[120].offset = d.size() - 4096;
  d.ranges[130].hash ^= 1;
  auto bad = check_range_hashes(d.fd, d.size(), d.ranges);
  REQUIRE(bad);
  CHECK(bad->index == 120);
  CHECK(bad->unreadable);
}

TEST_CASE("range hasher: a file truncated after opening is unreadable past its end") {
  Data d;
  REQUIRE(ftruncate(d.fd, off_t(100 * kRange + 100)) == 0);
  for (int round = 0; round < 5; ++round) {  // the SIGBUS handler works more than once
    auto bad = check_range_hashes(d.fd, d.size(), d.ranges);
    REQUIRE(bad);
    CHECK(bad->index == 100);
    CHECK(bad->unreadable);
  }
}

TEST_CASE("range hasher: without a mapping it reads the file") {
  Data d;
  // A file size of 0 cannot be mapped: the workers pread().
  CHECK_FALSE(check_range_hashes(d.fd, 0, d.ranges));
  d.ranges[42].hash ^= 1;
  auto bad = check_range_hashes(d.fd, 0, d.ranges);
  REQUIRE(bad);
  CHECK(bad->index == 42);
  CHECK_FALSE(bad->unreadable);
}
