// The keeper of a guest (docs/cluster.md, step 3). `vproc restore --guest`
// splits in two before the restore changes anything: the child goes on to
// become the restored process (its pid is the one in Restored); the parent,
// the keeper, is its parent for the rest of its life. It waits for it and
// tells the node daemon every change of its wait status (GuestStatus), which
// travels to the process's shadow at its home node, where the program's real
// parent waits.
#pragma once

#include <cstdint>
#include <string>

namespace vproc::tools {

// Forks. Returns in the child, the guest to be. The parent never returns: it
// keeps the child and, once it has reported the child's end, exits with the
// child's exit status (128 + the signal that killed it). Throws ToolError
// when fork fails.
void split_off_keeper(const std::string& socket_path, uint32_t vpid);

}  // namespace vproc::tools
