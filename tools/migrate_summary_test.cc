#include "migrate_summary.h"

#include <catch2/catch.hpp>

using namespace vproc::tools;

TEST_CASE("migrate summary: nodes, size and times on one line", "[migrate]") {
  vproc::wire::MigrateDone d;
  d.from.set("alpha");
  d.to.set("beta");
  d.image_bytes = 1ull << 30;
  d.frozen_ns = 812000000;
  d.total_ns = 1400000000;
  CHECK(migrate_summary(4194305, d) == "vpid 4194305: alpha \u2192 beta, 1.0 GiB, frozen 0.81 s, total 1.40 s");
  d.image_bytes = 300ull << 10;
  d.frozen_ns = 41300000;
  d.total_ns = 95000000;
  CHECK(migrate_summary(4194306, d) == "vpid 4194306: alpha \u2192 beta, 300 KiB, frozen 41.3 ms, total 95.0 ms");
}
