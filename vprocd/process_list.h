// The reply to ListRequest: every live process (and thread, if asked) with what
// /proc says about it now.
#pragma once

#include <vector>

#include "node_info.h"
#include "process_table.h"
#include "wire.h"

namespace vproc::daemon {

// Alive and Zombie records, ordered by vpid. Records whose task vanished since
// (the exit is not processed yet) are left out.
std::vector<wire::ProcessEntry> list_processes(const ProcessTable& table, const NodeInfo& node,
                                               bool threads);

}  // namespace vproc::daemon
