// The cluster file parser and the secret file checks (vprocd/cluster_config.h).
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cluster_config.h"
#include "options.h"

using namespace vproc::daemon;

namespace {

Status parse(const std::string& text, ClusterConfig& c) { return parse_cluster_text(text, "/etc/vproc/cluster", c); }

std::string parse_error(const std::string& text) {
  ClusterConfig c;
  Status s = parse(text, c);
  CHECK_FALSE(s.ok());
  return s.message;
}

// A scratch directory for secret files, removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/vproc-cluster-config-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path + "'";
    CHECK(system(cmd.c_str()) == 0);
  }
  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    std::string p = path + "/" + name;
    FILE* f = fopen(p.c_str(), "w");
    REQUIRE(f);
    fwrite(text.data(), 1, text.size(), f);
    fclose(f);
    REQUIRE(chmod(p.c_str(), mode) == 0);
    return p;
  }
};

}  // namespace

TEST_CASE("cluster config: nodes in order, comments, a relative secret path", "[cluster]") {
  ClusterConfig c;
  Status s = parse(
      "# the test cluster\n"
      "\n"
      "secret keys/cluster.key   # relative to the file's directory\n"
      "alpha 10.77.0.1:7400\n"
      "  beta\t10.77.0.2:7401  \n"
      "gamma-3.x_y [fd00::3]:7402\n"
      "delta node4.example:1\n",
      c);
  REQUIRE(s.ok());
  REQUIRE(c.nodes.size() == 4);
  CHECK(c.secret_path == "/etc/vproc/keys/cluster.key");
  CHECK(c.nodes[0].name == "alpha");
  CHECK(c.nodes[0].host == "10.77.0.1");
  CHECK(c.nodes[0].port == 7400);
  CHECK(c.nodes[1].name == "beta");
  CHECK(c.nodes[1].address == "10.77.0.2:7401");
  CHECK(c.nodes[2].host == "fd00::3");
  CHECK(c.nodes[2].address == "[fd00::3]:7402");
  CHECK(c.nodes[3].host == "node4.example");
  CHECK(c.index_of("gamma-3.x_y") == 2);
  CHECK(c.index_of("epsilon") == -1);

  ClusterConfig abs;
  REQUIRE(parse("secret /k\na 1.2.3.4:5\n", abs).ok());
  CHECK(abs.secret_path == "/k");
}

TEST_CASE("cluster config: errors name the file and line", "[cluster]") {
  CHECK(parse_error("secret /k\nalpha 1.2.3.4\n") == "/etc/vproc/cluster:2: node alpha: expected ADDRESS:PORT");
  CHECK(parse_error("secret /k\nalpha 1.2.3.4:0\n") ==
        "/etc/vproc/cluster:2: node alpha: port 0 is out of range 1..65535");
  CHECK(parse_error("secret /k\nalpha 1.2.3.4:70000\n").find("out of range") != std::string::npos);
  CHECK(parse_error("secret /k\nalpha 1.2.3.4:7a\n").find("'7a' is not a port number") != std::string::npos);
  CHECK(parse_error("secret /k\nalpha fd00::1:7400\n").find("needs brackets") != std::string::npos);
  CHECK(parse_error("secret /k\nalpha [fd00::1]7400\n").find("[IPV6-ADDRESS]:PORT") != std::string::npos);
  CHECK(parse_error("secret /k\nalpha [zz]:7400\n").find("not an IPv6 address") != std::string::npos);
  CHECK(parse_error("secret /k\nal/pha 1.2.3.4:5\n") ==
        "/etc/vproc/cluster:2: node name 'al/pha' must be 1 to 63 of A-Z a-z 0-9 . _ -");
  CHECK(parse_error("secret /k\n" + std::string(64, 'n') + " 1.2.3.4:5\n").find("1 to 63") != std::string::npos);
  CHECK(parse_error("secret /k\na 1.2.3.4:5\nb 1.2.3.4:6\na 1.2.3.4:7\n") ==
        "/etc/vproc/cluster:4: node name 'a' appears twice");
  CHECK(parse_error("secret /k\na 1.2.3.4:5\nb 1.2.3.4:5\n") ==
        "/etc/vproc/cluster:3: nodes a and b have the same address 1.2.3.4:5");
  CHECK(parse_error("secret /k\na 1.2.3.4:5 extra\n") ==
        "/etc/vproc/cluster:2: expected 'NAME ADDRESS:PORT' or 'secret PATH'");
  CHECK(parse_error("secret\na 1.2.3.4:5\n") == "/etc/vproc/cluster:1: expected 'secret PATH'");
  CHECK(parse_error("secret /k\nsecret /j\na 1.2.3.4:5\n") ==
        "/etc/vproc/cluster:2: a second 'secret' line (the first is line 1)");
  CHECK(parse_error("a 1.2.3.4:5\n") == "/etc/vproc/cluster: no 'secret PATH' line");
  CHECK(parse_error("# nothing\nsecret /k\n") == "/etc/vproc/cluster: no nodes (lines 'NAME ADDRESS:PORT')");
  CHECK(parse_error("secret /k\na bad_host!:5\n").find("not an IPv4 address or host name") != std::string::npos);
}

TEST_CASE("cluster config: at most 511 nodes", "[cluster]") {
  std::string text = "secret /k\n";
  for (int i = 0; i < 511; ++i) text += "n" + std::to_string(i) + " 10.0.0.1:" + std::to_string(1000 + i) + "\n";
  ClusterConfig c;
  REQUIRE(parse(text, c).ok());
  CHECK(c.nodes.size() == 511);
  CHECK(parse_error(text + "last 10.0.0.2:1\n") == "/etc/vproc/cluster:513: more than 511 nodes");
}

TEST_CASE("cluster config: the digest covers names, addresses and order", "[cluster]") {
  ClusterConfig a, b, c, d;
  REQUIRE(parse("secret /k\nx 1.1.1.1:1\ny 1.1.1.2:1\n", a).ok());
  REQUIRE(parse("# other comments\nsecret /other\n\nx  1.1.1.1:1\ny 1.1.1.2:1\n", b).ok());
  REQUIRE(parse("secret /k\ny 1.1.1.2:1\nx 1.1.1.1:1\n", c).ok());
  REQUIRE(parse("secret /k\nx 1.1.1.1:1\ny 1.1.1.2:2\n", d).ok());
  CHECK(a.digest == b.digest);  // the secret's path and the layout do not matter
  CHECK(a.digest != c.digest);
  CHECK(a.digest != d.digest);
}

TEST_CASE("cluster config: the secret file must be private and long enough", "[cluster]") {
  TempDir dir;
  std::string secret;
  CHECK(read_cluster_secret(dir.write("good", "0123456789abcdef", 0600), secret).ok());
  CHECK(secret == "0123456789abcdef");
  CHECK(read_cluster_secret(dir.write("owner-only", "0123456789abcdef\n", 0400), secret).ok());

  Status s = read_cluster_secret(dir.write("short", "0123456789abcde", 0600), secret);
  CHECK(s.err == EINVAL);
  CHECK(s.message.find("holds 15 bytes; it needs 16 to 4096") != std::string::npos);
  s = read_cluster_secret(dir.write("readable", "0123456789abcdef", 0640), secret);
  CHECK(s.err == EPERM);
  CHECK(s.message.find("accessible by group or others (mode 0640): chmod 600 it") != std::string::npos);
  CHECK(read_cluster_secret(dir.write("world", "0123456789abcdef", 0604), secret).err == EPERM);
  CHECK(read_cluster_secret(dir.path + "/missing", secret).err == ENOENT);
  CHECK(read_cluster_secret(dir.path, secret).err == EINVAL);  // a directory
  CHECK(secret.empty());
}

TEST_CASE("cluster config: load reads the file and its secret", "[cluster]") {
  TempDir dir;
  dir.write("key", std::string(32, 'k'), 0600);
  std::string file = dir.write("cluster", "secret key\nalpha 127.0.0.1:7401\nbeta 127.0.0.1:7402\n", 0644);
  ClusterConfig c;
  REQUIRE(load_cluster_config(file, c).ok());
  CHECK(c.path == file);
  CHECK(c.secret == std::string(32, 'k'));
  CHECK(c.nodes.size() == 2);

  Status s = load_cluster_config(dir.path + "/nope", c);
  CHECK(s.err == ENOENT);
  CHECK(s.message.find("cannot open the cluster file") != std::string::npos);
}

TEST_CASE("cluster config: --node picks the line, --node-index must agree", "[cluster]") {
  ClusterConfig c;
  REQUIRE(parse("secret /k\nalpha 1.1.1.1:1\nbeta 1.1.1.2:1\n", c).ok());
  uint32_t index = 99;
  REQUIRE(select_cluster_node(c, "beta", std::nullopt, index).ok());
  CHECK(index == 1);
  REQUIRE(select_cluster_node(c, "beta", 1u, index).ok());
  Status s = select_cluster_node(c, "gamma", std::nullopt, index);
  CHECK(s.message == "node 'gamma' is not in the cluster file /etc/vproc/cluster (its nodes: alpha, beta); "
                     "give --node NAME");
  s = select_cluster_node(c, "alpha", 1u, index);
  CHECK(s.message == "--node-index 1 contradicts the cluster file /etc/vproc/cluster, where alpha is node 0");
}

TEST_CASE("cluster config: vprocd's --cluster option", "[cluster]") {
  std::vector<const char*> args = {"vprocd", "--cluster", "rel/cluster.conf", "--node", "beta"};
  Options o;
  REQUIRE(parse_options(int(args.size()), const_cast<char**>(args.data()), o).ok());
  CHECK(o.cluster_path == "rel/cluster.conf");
  REQUIRE(complete_options(o).ok());
  CHECK(o.cluster_path[0] == '/');  // the daemon changes directory to /
  CHECK(o.cluster_path.size() > strlen("/rel/cluster.conf"));
  std::vector<const char*> empty = {"vprocd", "--cluster="};
  CHECK(parse_options(int(empty.size()), const_cast<char**>(empty.data()), o).message == "--cluster: empty path");
  CHECK(std::string(usage_text()).find("--cluster FILE") != std::string::npos);
}
