// How `vproc ps` shows the daemon's process list: a ps-like table or JSON.
// Pure functions of their inputs (the clock and the uid->name lookup are
// parameters), so they are unit-tested.
#pragma once

#include <time.h>

#include <functional>
#include <string>
#include <vector>

#include "wire.h"

namespace vproc::tools {

// Display order: by vpid; with threads, each process followed by its threads.
void sort_for_display(std::vector<wire::ProcessEntry>& entries);

// ps's START column: local "HH:MM:SS" for a start on the same local day as
// `now`, else "MonDD" (e.g. "Mar05").
std::string format_start_time(uint64_t start_time_ms, time_t now);

// argv joined by spaces, control characters shown as '?' (as ps does); a
// zombie gets " <defunct>"; an empty argv shows as "-".
std::string command_text(const wire::ProcessEntry& e);

struct TableOptions {
  bool threads = false;  // adds a TGID column (the owning process's vpid)
  time_t now = 0;
  std::function<std::string(uint32_t)> user_name;  // uid -> name (or the number)
};

// Columns VPID [TGID] NODE PID PPID STATE UID START CMD, aligned; one header line.
std::string render_table(const std::vector<wire::ProcessEntry>& entries, const TableOptions& opt);

// A JSON array of {vpid,node,node_index,pid,ppid,state,uid,start_time_ms,argv,thread,tgid}.
std::string render_json(const std::vector<wire::ProcessEntry>& entries);

}  // namespace vproc::tools
