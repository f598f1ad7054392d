#include "children.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace vproc;
using namespace vproc::lib;

namespace {

struct Table {
  ChildSlot slots[64];
  std::atomic<int> used{0};
  ChildTable view() { return ChildTable(slots, &used, 64); }
};

}  // namespace

TEST_CASE("child table records, finds and forgets children") {
  Table t;
  ChildTable c = t.view();
  REQUIRE(c.add(VPid{4194305}, RealPid{100}));
  REQUIRE(c.add(VPid{4194306}, RealPid{101}));
  CHECK(c.real_of(VPid{4194305}) == RealPid{100});
  CHECK(c.vpid_of(RealPid{101}) == VPid{4194306});
  CHECK(c.real_of(VPid{4194399}) == RealPid{});
  CHECK(c.vpid_of(RealPid{999}) == VPid{});
  CHECK(t.used.load() == 2);

  CHECK(c.remove(VPid{4194305}));
  CHECK_FALSE(c.remove(VPid{4194305}));
  CHECK(c.real_of(VPid{4194305}) == RealPid{});
  // The freed lowest slot is reused, so the high-water mark does not grow.
  REQUIRE(c.add(VPid{4194307}, RealPid{100}));
  CHECK(t.used.load() == 2);
  CHECK(c.vpid_of(RealPid{100}) == VPid{4194307});

  int n = 0;
  c.for_each([&](ChildEntry) { ++n; });
  CHECK(n == 2);
  c.clear();
  CHECK(t.used.load() == 0);
  CHECK(c.real_of(VPid{4194306}) == RealPid{});
}

TEST_CASE("a reaped child is kept for its group id only") {
  Table t;
  ChildTable c = t.view();
  REQUIRE(c.add(VPid{4194305}, RealPid{100}));
  REQUIRE(c.mark_reaped(VPid{4194305}));
  CHECK_FALSE(c.mark_reaped(VPid{4194305}));  // already reaped
  CHECK(c.real_of(VPid{4194305}) == RealPid{});
  CHECK(c.vpid_of(RealPid{100}) == VPid{});
  CHECK(c.group_real_of(VPid{4194305}) == RealPid{100});
  CHECK(c.group_vpid_of(RealPid{100}) == VPid{4194305});
  // A live child that got the reused real pid wins over the reaped one.
  REQUIRE(c.add(VPid{4194310}, RealPid{100}));
  CHECK(c.vpid_of(RealPid{100}) == VPid{4194310});
  CHECK(c.group_vpid_of(RealPid{100}) == VPid{4194310});
  bool saw_reaped = false;
  c.for_each([&](ChildEntry e) { saw_reaped |= e.reaped && e.vpid == VPid{4194305}; });
  CHECK(saw_reaped);
  CHECK(c.remove(VPid{4194305}));
  CHECK(c.group_real_of(VPid{4194305}) == RealPid{});
}

TEST_CASE("a full table gives a reaped child's slot to a new child") {
  Table t;
  ChildTable c = t.view();
  for (uint32_t i = 0; i < 64; ++i) REQUIRE(c.add(VPid{4194305 + i}, RealPid{200 + i}));
  CHECK_FALSE(c.add(VPid{4194400}, RealPid{300}));
  REQUIRE(c.mark_reaped(VPid{4194305 + 10}));
  REQUIRE(c.add(VPid{4194400}, RealPid{300}));
  CHECK(c.real_of(VPid{4194400}) == RealPid{300});
  CHECK(c.group_real_of(VPid{4194305 + 10}) == RealPid{});
  CHECK(c.add(VPid{4194401}, RealPid{301}) == false);
}

TEST_CASE("packing keeps vpid, real pid and the reaped flag apart") {
  uint64_t w = ChildTable::pack(VPid{0x7fffffff}, RealPid{kRealPidLimit - 1}, true);
  ChildEntry e = ChildTable::unpack(w);
  CHECK(e.vpid == VPid{0x7fffffff});
  CHECK(e.real == RealPid{kRealPidLimit - 1});
  CHECK(e.reaped);
  e = ChildTable::unpack(ChildTable::pack(VPid{4194305}, RealPid{1}));
  CHECK_FALSE(e.reaped);
  CHECK(e.real == RealPid{1});
}

TEST_CASE("child table rejects empty ids and reports a full table") {
  Table t;
  ChildTable c = t.view();
  CHECK_FALSE(c.add(VPid{}, RealPid{5}));
  CHECK_FALSE(c.add(VPid{4194305}, RealPid{}));
  CHECK_FALSE(c.add(VPid{4194305}, RealPid{kRealPidLimit}));
  for (uint32_t i = 0; i < 64; ++i) REQUIRE(c.add(VPid{4194305 + i}, RealPid{200 + i}));
  CHECK_FALSE(c.add(VPid{4194305 + 64}, RealPid{300}));
  CHECK(c.real_of(VPid{4194305 + 63}) == RealPid{263});
}

TEST_CASE("child table stays consistent under concurrent add and remove") {
  Table t;
  ChildTable c = t.view();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (uint32_t i = 0; i < 5000; ++i) {
        VPid v{4194305 + uint32_t(k) * 100000 + i};
        RealPid r{uint32_t(k) * 100000 + i + 1};
        if (!c.add(v, r)) { ++failures; continue; }
        if (c.real_of(v) != r || c.vpid_of(r) != v) ++failures;
        if (!c.remove(v)) ++failures;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(failures.load() == 0);
  int left = 0;
  c.for_each([&](ChildEntry) { ++left; });
  CHECK(left == 0);
  CHECK(t.used.load() <= 4);
}
