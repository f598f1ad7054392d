#include "lease.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

using namespace vproc::lib;

TEST_CASE("a lease hands out each vpid once, then reports empty") {
  std::atomic<uint64_t> lease{lease_pack(4194305, 4194308)};
  CHECK(lease_take(lease) == 4194305);
  CHECK(lease_take(lease) == 4194306);
  CHECK(lease_take(lease) == 4194307);
  CHECK(lease_take(lease) == 0);
  CHECK(lease_take(lease) == 0);
  CHECK(lease_take_would_fail(lease.load()));

  std::atomic<uint64_t> none{0};
  CHECK(lease_take(none) == 0);
}

TEST_CASE("giving back only undoes the most recent take") {
  std::atomic<uint64_t> lease{lease_pack(4194305, 4194310)};
  uint32_t a = lease_take(lease), b = lease_take(lease);
  lease_give_back(lease, a);  // not the last one taken: ignored
  CHECK(lease_take(lease) == 4194307);
  lease_give_back(lease, 4194307);
  CHECK(lease_take(lease) == 4194307);
  (void)b;
}

TEST_CASE("refill sizes grow 16, 64, 256") {
  CHECK(lease_refill_size(0) == 16);
  CHECK(lease_refill_size(1) == 64);
  CHECK(lease_refill_size(2) == 256);
  CHECK(lease_refill_size(50) == 256);
}

TEST_CASE("concurrent takers never get the same vpid") {
  const uint32_t first = 4194305, count = 40000;
  std::atomic<uint64_t> lease{lease_pack(first, first + count)};
  std::vector<std::vector<uint32_t>> got(4);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      while (uint32_t v = lease_take(lease)) got[k].push_back(v);
    });
  for (auto& t : threads) t.join();
  std::set<uint32_t> all;
  size_t total = 0;
  for (auto& g : got) {
    total += g.size();
    all.insert(g.begin(), g.end());
  }
  CHECK(total == count);
  CHECK(all.size() == count);
  CHECK(*all.begin() == first);
  CHECK(*all.rbegin() == first + count - 1);
}
