// vproc-shadow --linger VPID: what a guest becomes on the node it leaves when
// it has children of its own there (docs/cluster.md, "Children left behind").
//
// The process runs on elsewhere; its children stay, and need their kernel
// parent to be told of their exits, stops and continues. So the old copy
// stays as that parent (same pid, all memory dropped, no signals but
// SIGCHLD) and reports each change to this node's daemon, as a shadow does
// (shadow_children.h), until the last child is reaped; then it exits 0
// (nobody waits for it: its keeper's report belongs to a finished migration).
#pragma once

#include <cstdint>

namespace vproc::shadow {

[[noreturn]] void run_linger(uint32_t vpid, const char* socket_path);

}  // namespace vproc::shadow
