// The daemon-protocol messages of the cluster: ClusterQuery and its
// ClusterList answer, and the sigqueue fields of Signal (common/wire.h).
#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "wire.h"

using namespace vproc;

TEST_CASE("cluster wire: Signal carries a sigqueue value, ClusterQuery its node", "[cluster]") {
  alignas(8) char buf[wire::kLargeFrameBytes];
  size_t n = wire::encode(wire::Request(wire::Signal{8388609, 10, true, 0xfeedface12345678ull}), buf,
                          wire::kRequestFrameBytes);
  REQUIRE(n > 0);  // still fits the library's send buffer
  wire::Request r;
  REQUIRE(wire::decode(buf, n, r));
  auto s = std::get<wire::Signal>(r);
  CHECK(s.target == 8388609);
  CHECK(s.queued);
  CHECK(s.value == 0xfeedface12345678ull);

  wire::ClusterQuery q;
  q.threads = true;
  q.node.set(std::string(63, 'n').c_str());
  n = wire::encode(wire::Request(q), buf, sizeof buf);
  REQUIRE(n > 0);
  REQUIRE(wire::decode(buf, n, r));
  auto q2 = std::get<wire::ClusterQuery>(r);
  CHECK(q2.threads);
  CHECK_FALSE(q2.nodes_only);
  CHECK(std::string(q2.node.s) == std::string(63, 'n'));
}

TEST_CASE("cluster wire: a ClusterList holds entries and node states", "[cluster]") {
  wire::ClusterListing l;
  wire::ProcessEntry e;
  e.vpid = 8388609;
  e.node_index = 1;
  e.node_name = "beta";
  e.argv = {"sleep", "60"};
  l.entries.push_back(e);
  wire::NodeState up;
  up.index = 1;
  up.name = "beta";
  up.address = "127.0.0.1:7402";
  up.reachable = true;
  up.processes = 1;
  wire::NodeState down = up;
  down.index = 2;
  down.name = "gamma";
  down.reachable = false;
  down.message = "node gamma (127.0.0.1:7403) unreachable: Connection refused";
  down.self = true;
  l.nodes = {up, down};
  std::vector<uint64_t> frame = wire::encode_cluster_list(l);
  size_t len = frame.size() * 8;

  wire::Reply rep;
  REQUIRE(wire::decode(frame.data(), len, rep));
  CHECK(std::holds_alternative<wire::ListFollows>(rep));
  wire::ClusterListing back;
  REQUIRE(wire::decode_cluster_list(frame.data(), len, back));
  REQUIRE(back.entries.size() == 1);
  CHECK(back.entries[0].vpid == 8388609);
  CHECK(back.entries[0].argv == std::vector<std::string>{"sleep", "60"});
  REQUIRE(back.nodes.size() == 2);
  CHECK(back.nodes[0].reachable);
  CHECK(back.nodes[0].processes == 1);
  CHECK(back.nodes[1].name == "gamma");
  CHECK(back.nodes[1].message == down.message);
  CHECK(back.nodes[1].self);
  std::vector<wire::ProcessEntry> plain;
  CHECK_FALSE(wire::decode_list(frame.data(), len, plain));  // not a plain list

  // A plain list reply reads as a listing without node states.
  std::vector<uint64_t> old = wire::encode_list(l.entries);
  REQUIRE(wire::decode_cluster_list(old.data(), old.size() * 8, back));
  CHECK(back.entries.size() == 1);
  CHECK(back.nodes.empty());
  CHECK_FALSE(wire::decode_cluster_list(frame.data(), len - 8, back));
}
