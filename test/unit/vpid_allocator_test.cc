// vprocd's serial allocator: runs of free serials, cursor, wraparound, exhaustion.
#include <atomic>
#include <catch2/catch.hpp>
#include <set>

#include "vpid_allocator.h"

using namespace vproc;
using namespace vproc::daemon;

namespace {

struct Space {
  std::set<uint32_t> taken;
  std::atomic<uint32_t> cursor{1};
  bool is_taken(uint32_t s) const { return taken.count(s) != 0; }
  auto pred() const {
    return [this](uint32_t s) { return is_taken(s); };
  }
};

}  // namespace

TEST_CASE("allocator: hands out consecutive runs and moves the cursor", "[allocator]") {
  VPidAllocator alloc(64);
  Space sp;
  SerialRun r;
  REQUIRE(alloc.allocate(1, sp.cursor, sp.pred(), r).ok());
  CHECK(r.first == 1);
  CHECK(r.count == 1);
  CHECK(sp.cursor == 2);
  REQUIRE(alloc.allocate(16, sp.cursor, sp.pred(), r).ok());
  CHECK(r.first == 2);
  CHECK(r.count == 16);
  CHECK(sp.cursor == 18);
}

TEST_CASE("allocator: skips serials in use or leased, and a run stops at one", "[allocator]") {
  VPidAllocator alloc(64);
  Space sp;
  sp.taken = {1, 2, 3, 7};
  SerialRun r;
  REQUIRE(alloc.allocate(10, sp.cursor, sp.pred(), r).ok());
  CHECK(r.first == 4);
  CHECK(r.count == 3);  // 4, 5, 6: serial 7 is taken
  CHECK(sp.cursor == 7);
  REQUIRE(alloc.allocate(2, sp.cursor, sp.pred(), r).ok());
  CHECK(r.first == 8);
  CHECK(r.count == 2);
}

TEST_CASE("allocator: wraps around to serial 1, never uses serial 0", "[allocator]") {
  VPidAllocator alloc(16);  // serials 1..15
  Space sp;
  sp.cursor = 14;
  SerialRun r;
  REQUIRE(alloc.allocate(5, sp.cursor, sp.pred(), r).ok());
  CHECK(r.first == 14);
  CHECK(r.count == 2);  // a run never wraps: 14, 15
  CHECK(sp.cursor == 1);
  REQUIRE(alloc.allocate(1, sp.cursor, sp.pred(), r).ok());
  CHECK(r.first == 1);

  // A cursor left at 0 or beyond the limit (a corrupt header) restarts at 1.
  sp.cursor = 0;
  REQUIRE(alloc.allocate(1, sp.cursor, sp.pred(), r).ok());
  CHECK(r.first == 1);
  sp.cursor = 99;
  REQUIRE(alloc.allocate(1, sp.cursor, sp.pred(), r).ok());
  CHECK(r.first == 1);

  // With everything from the cursor to the end taken, it finds the free one before.
  sp.taken = {10, 11, 12, 13, 14, 15};
  sp.cursor = 10;
  REQUIRE(alloc.allocate(3, sp.cursor, sp.pred(), r).ok());
  CHECK(r.first == 1);
  CHECK(r.count == 3);
}

TEST_CASE("allocator: exhaustion is a clear error, and a freed serial is found again", "[allocator]") {
  VPidAllocator alloc(8);  // serials 1..7
  Space sp;
  for (uint32_t s = 1; s < 8; ++s) sp.taken.insert(s);
  SerialRun r;
  Status st = alloc.allocate(1, sp.cursor, sp.pred(), r);
  CHECK(st.err == EAGAIN);
  CHECK(st.message.find("no free vpid") != std::string::npos);
  CHECK(r.count == 0);

  sp.taken.erase(5);
  sp.cursor = 6;
  REQUIRE(alloc.allocate(4, sp.cursor, sp.pred(), r).ok());
  CHECK(r.first == 5);
  CHECK(r.count == 1);
}

TEST_CASE("allocator: an empty request is refused", "[allocator]") {
  VPidAllocator alloc(8);
  Space sp;
  SerialRun r;
  CHECK(alloc.allocate(0, sp.cursor, sp.pred(), r).err == EINVAL);
}
