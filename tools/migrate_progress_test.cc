#include "migrate_progress.h"

#include <catch2/catch.hpp>

using namespace vproc::tools;
using vproc::wire::MigrateStage;
using vproc::wire::Progress;

TEST_CASE("migrate progress: a stage with bytes shows a bar, the count and the rate", "[migrate]") {
  Progress p{MigrateStage::Sending, 412ull << 20, 1ull << 30};
  CHECK(progress_line(4194305, "h2", p, 1.2 * (1ull << 30), 100) ==
        "vpid 4194305 \u2192 h2  sending  [########............]  412 MiB / 1.0 GiB  1.2 GiB/s");
  // No rate yet (first answer of the stage): no rate.
  CHECK(progress_line(4194305, "h2", p, 0, 100) ==
        "vpid 4194305 \u2192 h2  sending  [########............]  412 MiB / 1.0 GiB");
  p.bytes_done = p.bytes_total;
  CHECK(progress_line(4194305, "h2", p, 0, 100).find("[####################]") != std::string::npos);
}

TEST_CASE("migrate progress: checkpointing beyond its estimate is full, never more", "[migrate]") {
  Progress p{MigrateStage::Checkpointing, 300ull << 20, 200ull << 20};
  std::string l = progress_line(7, "beta", p, 0, 100);
  CHECK(l == "vpid 7 \u2192 beta  checkpointing  [####################]  200 MiB / 200 MiB");
  // Without an estimate: just what is written.
  p.bytes_total = 0;
  CHECK(progress_line(7, "beta", p, 0, 0) == "vpid 7 \u2192 beta  checkpointing  300 MiB");
}

TEST_CASE("migrate progress: stages without bytes show their name only", "[migrate]") {
  CHECK(progress_line(7, "h3", Progress{MigrateStage::Restoring, 0, 0}, 5e6, 80) == "vpid 7 \u2192 h3  restoring");
  CHECK(progress_line(7, "h3", Progress{MigrateStage::Committing, 0, 0}, 0, 80) == "vpid 7 \u2192 h3  committing");
  CHECK(progress_line(7, "h3", Progress{MigrateStage::Checking, 0, 0}, 0, 80) == "vpid 7 \u2192 h3  checking");
  CHECK(progress_line(7, "h3", Progress{}, 0, 80).empty());
}

TEST_CASE("migrate progress: a narrow terminal gets a shorter line, never a wrapped one", "[migrate]") {
  Progress p{MigrateStage::Sending, 512ull << 20, 1ull << 30};
  for (int width : {120, 80, 70, 60, 50, 40, 20, 10, 2}) {
    std::string l = progress_line(4194305, "node-with-a-long-name", p, 3e8, width);
    INFO("width " << width << ": " << l);
    CHECK(display_width(l) <= size_t(width - 1));
    if (width > 5) CHECK(l.rfind("vpid ", 0) == 0);
  }
  // Wide enough for the bar: half full.
  CHECK(progress_line(4194305, "h2", p, 0, 120).find("[##########..........]") != std::string::npos);
  // Its size does not change with the count or the rate.
  auto cells = [](const std::string& l) { return l.find(']') - l.find('['); };
  size_t at80 = cells(progress_line(4194305, "h2", p, 0, 80));
  CHECK(at80 >= 10);
  CHECK(cells(progress_line(4194305, "h2", p, 3e8, 80)) == at80);
  CHECK(cells(progress_line(4194305, "h2", Progress{MigrateStage::Sending, 1000ull << 20, 1000ull << 20}, 1e9, 80)) ==
        at80);
  // At 60 columns the bar shrinks, then goes, the count stays.
  std::string l60 = progress_line(4194305, "h2", p, 3e8, 60);
  CHECK(l60.find("512 MiB / 1.0 GiB") != std::string::npos);
  std::string l40 = progress_line(4194305, "h2", p, 3e8, 46);
  CHECK(l40.find('[') == std::string::npos);
}

TEST_CASE("migrate progress: display width counts code points", "[migrate]") {
  CHECK(display_width("abc") == 3);
  CHECK(display_width("a \u2192 b") == 5);
  CHECK(display_width("") == 0);
}
