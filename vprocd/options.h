// vprocd's command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "status.h"

namespace vproc::daemon {

struct Options {
  std::string socket_path;              // empty: default_daemon_socket_path()
  std::string node_name;                // empty: the host name
  std::optional<uint32_t> node_index;   // nullopt: the table's, or 0 for a new table
  std::string cluster_path;             // --cluster FILE (docs/cluster.md); empty: a single node
  bool foreground = false;
  uint32_t idle_exit_secs = 0;          // 0: never
  std::string log_path;
  std::string pidfile;
  bool verbose = false;
  bool help = false;
  bool version = false;
};

// Parses argv. On error the Status message says what is wrong (without the
// "vprocd: " prefix).
Status parse_options(int argc, char** argv, Options& out);

// Fills in defaults (socket path, node name) and makes paths absolute (the
// daemon changes directory to /).
Status complete_options(Options& opts);

const char* usage_text();

}  // namespace vproc::daemon
