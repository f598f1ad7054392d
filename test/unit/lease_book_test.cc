// vprocd's lease book: which vpids are reserved for which process.
#include <catch2/catch.hpp>

#include "lease_book.h"

using namespace vproc;
using namespace vproc::daemon;

TEST_CASE("leases: grant, look up, take and return", "[lease]") {
  LeaseBook book;
  VPid a{4194305}, b{4194306};
  book.grant(a, VPid{4194400}, 4);  // 4194400..4194403
  book.grant(b, VPid{4194404}, 2);  // 4194404..4194405
  CHECK(book.holder_of(VPid{4194399}) == VPid{});
  CHECK(book.holder_of(VPid{4194400}) == a);
  CHECK(book.holder_of(VPid{4194403}) == a);
  CHECK(book.holder_of(VPid{4194404}) == b);
  CHECK(book.holder_of(VPid{4194406}) == VPid{});
  CHECK(book.held_by(a) == 4);
  CHECK(book.total() == 6);

  // Only the holder may take, and only once.
  CHECK_FALSE(book.take(b, VPid{4194401}));
  REQUIRE(book.take(a, VPid{4194401}));  // splits 4194400 | 4194402..4194403
  CHECK_FALSE(book.take(a, VPid{4194401}));
  CHECK(book.holder_of(VPid{4194401}) == VPid{});
  CHECK(book.holder_of(VPid{4194400}) == a);
  CHECK(book.holder_of(VPid{4194402}) == a);
  CHECK(book.held_by(a) == 3);

  auto back = book.release_holder(a);
  REQUIRE(back.size() == 3);
  CHECK(back[0] == VPid{4194400});
  CHECK(back[1] == VPid{4194402});
  CHECK(back[2] == VPid{4194403});
  CHECK(book.held_by(a) == 0);
  CHECK(book.holder_of(VPid{4194400}) == VPid{});
  CHECK(book.holder_of(VPid{4194404}) == b);  // b is untouched
  CHECK(book.total() == 2);
  CHECK(book.release_holder(a).empty());
}

TEST_CASE("leases: taking in order, and consecutive grants to one holder", "[lease]") {
  LeaseBook book;
  VPid h{4194305};
  book.grant(h, VPid{4194310}, 3);
  book.grant(h, VPid{4194313}, 3);  // adjacent: merged with the first run
  CHECK(book.held_by(h) == 6);
  for (uint32_t v = 4194310; v < 4194316; ++v) REQUIRE(book.take(h, VPid{v}));
  CHECK(book.held_by(h) == 0);
  CHECK(book.total() == 0);
  CHECK(book.release_holder(h).empty());
}
