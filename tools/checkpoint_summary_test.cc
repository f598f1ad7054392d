#include "checkpoint_summary.h"

#include <catch2/catch.hpp>

using namespace vproc::tools;

TEST_CASE("checkpoint summary: sizes and durations", "[checkpoint]") {
  CHECK(human_bytes(0) == "0 B");
  CHECK(human_bytes(1023) == "1023 B");
  CHECK(human_bytes(4096) == "4.0 KiB");
  CHECK(human_bytes(812ull << 20) == "812 MiB");
  CHECK(human_bytes((1ull << 30) - (1ull << 18)) == "1.0 GiB");  // not "1024 MiB"
  CHECK(human_bytes(1ull << 30) == "1.0 GiB");
  CHECK(human_bytes(15ull << 29) == "7.5 GiB");
  CHECK(human_duration(40000) == "0.04 ms");
  CHECK(human_duration(12300000) == "12.3 ms");
  CHECK(human_duration(850000000) == "0.85 s");
  CHECK(human_duration(312000000000ull) == "312 s");

  vproc::wire::CheckpointResult r;
  r.vpid = 4194305;
  r.image_bytes = 1ull << 30;
  r.data_bytes = 812ull << 20;
  r.frozen_ns = 12300000;
  r.write_ns = 850000000;
  CHECK(checkpoint_summary(r, "/data/x.vpimg") ==
        "checkpoint of vpid 4194305: /data/x.vpimg (1.0 GiB, 812 MiB of memory data), frozen 12.3 ms, "
        "written in 0.85 s");
}
