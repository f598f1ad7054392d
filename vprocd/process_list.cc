#include "process_list.h"

#include <algorithm>

#include "proc_stat.h"

namespace vproc::daemon {

std::vector<wire::ProcessEntry> list_processes(const ProcessTable& table, const NodeInfo& node,
                                               bool threads) {
  std::vector<const ProcessRecord*> recs;
  // A process that migrated away is listed by the node it runs on (here: its
  // shadow, which is not listed); guests of other nodes are listed here.
  for (const auto& [v, rec] : table.records())
    if (rec.live() && (threads || !rec.thread) && rec.location < 0) recs.push_back(&rec);
  for (const auto& [v, rec] : table.guests()) recs.push_back(&rec);
  std::sort(recs.begin(), recs.end(), [](auto* a, auto* b) { return a->vpid < b->vpid; });

  std::vector<wire::ProcessEntry> out;
  out.reserve(recs.size());
  for (const ProcessRecord* rec : recs) {
    ProcStat st;
    RealPid proc_real = rec->real;  // whose cmdline: a thread shows its process's
    if (rec->thread) {
      const ProcessRecord* p = table.find(rec->tgid);
      if (!p) continue;
      proc_real = p->real;
      if (!read_task_stat(p->real, rec->real, st)) continue;
    } else if (!read_proc_stat(rec->real, st)) {
      continue;
    }
    if (st.start_ticks != rec->start_ticks) continue;
    wire::ProcessEntry e;
    e.vpid = rec->vpid.value;
    e.node_index = node.index;
    e.node_name = node.name;
    e.real = rec->real.value;
    e.parent = rec->parent;
    ProcUids uids;  // now, not at registration: the process may have changed it
    e.uid = read_proc_uids(proc_real, uids) ? uids.real : rec->uid;
    e.tgid = rec->tgid.value;
    e.state = state_word(st.state);
    e.start_time_ms = start_time_ms(node.boot_time_ms, rec->start_ticks);
    read_cmdline(proc_real, e.argv);
    e.thread = rec->thread;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace vproc::daemon
