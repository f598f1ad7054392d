// The cluster file (docs/cluster.md, "Cluster file"): which nodes exist, where
// each listens, and the shared secret they authenticate each other with.
//
//   # comment
//   secret /etc/vproc/cluster.key      (relative: to the file's directory)
//   alpha 10.77.0.1:7400               (node index = position among node lines)
//   beta  [fd00::2]:7400
//
// Every daemon of a cluster must read the same node lines: vpids encode the
// node index, and peers compare a digest of the list when they connect.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "status.h"

namespace vproc::daemon {

struct ClusterNode {
  std::string name;
  std::string host;      // IPv4/IPv6 literal (without brackets) or host name
  uint16_t port = 0;
  std::string address;   // "host:port" ("[v6]:port") for messages
};

struct ClusterConfig {
  std::string path;                 // the file, absolute
  std::vector<ClusterNode> nodes;   // index = node index
  std::string secret_path;          // absolute
  std::string secret;               // the key bytes (>= kMinSecretBytes)
  std::array<uint8_t, 16> digest{}; // of the node list: peers must agree on it

  // Index of the node called `name`, or -1.
  int index_of(const std::string& name) const;
};

inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kMaxSecretBytes = 4096;

// Parses the text of a cluster file. `path` names it in messages ("FILE:LINE:
// ...") and anchors a relative secret path. Does not read the secret.
Status parse_cluster_text(const std::string& text, const std::string& path, ClusterConfig& out);

// Reads the secret file: a regular file of kMinSecretBytes..kMaxSecretBytes
// bytes that neither group nor others may read or write.
Status read_cluster_secret(const std::string& path, std::string& out);

// parse_cluster_text on the file at `path` (made absolute), then its secret.
Status load_cluster_config(const std::string& path, ClusterConfig& out);

// The node this daemon is: `name` must be one of the file's nodes; a given
// `--node-index` must agree with its position.
Status select_cluster_node(const ClusterConfig& config, const std::string& name,
                           std::optional<uint32_t> given_index, uint32_t& index_out);

}  // namespace vproc::daemon
