// The process table's checkpoint/restore side: the checkpoint signal a process
// told in its Hello, and Restored, by which a restored process takes its vpid
// back. (A part of ProcessTable, in its own file: process_table.cc is about
// the life of ordinary processes.)
#include <cerrno>

#include "pid_types.h"
#include "proc_stat.h"
#include "process_table.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

// The record's task exists and has not exited (a zombie has: its image may be
// restored while its parent has not waited for it yet).
bool still_running(const ProcessRecord& rec) {
  ProcStat st;
  return rec.live() && read_proc_stat(rec.real, st) && st.start_ticks == rec.start_ticks && st.state != 'Z' &&
         st.state != 'X';
}

}  // namespace

void ProcessTable::set_ckpt_signal(VPid v, int sig) {
  ProcessRecord* rec = find_mut(v);
  if (!rec || sig < 0 || sig > 64) return;
  rec->ckpt_signal = sig;
  if (!rec->guest) table_.set_ckpt_signal(v, sig);
}

Status ProcessTable::restored(const Peer& peer, const wire::Restored& msg) {
  if (!peer.pid || !peer.start_ticks)
    return Status::failure(ESRCH, "the connecting process has no pid in this namespace or is gone");
  // Only the restoring process itself: it execs the restorer, keeping its pid,
  // and becomes the process the image holds.
  if (msg.real != peer.pid.value)
    return Status::failure(EPERM, strf("restored: pid %u may register only itself, not pid %u", peer.pid.value,
                                       msg.real));
  if (!valid_vpid(msg.vpid)) return Status::failure(EINVAL, strf("%u is not a vpid", msg.vpid));
  VPid v{msg.vpid};
  if (!table_.owns(v))
    return Status::failure(EINVAL, strf("vpid %u belongs to node %u; this daemon serves node %u (restore it "
                                        "with that node's daemon)",
                                        v.value, home_node_of(v), table_.node_index()));
  if (const ProcessRecord* rec = find(v)) {
    if (rec->real == peer.pid && !rec->thread && rec->state == RecordState::Alive &&
        rec->start_ticks == peer.start_ticks)
      return Status::success();  // said twice
    if (still_running(*rec)) {
      if (rec->thread)
        return Status::failure(EEXIST, strf("vpid %u is in use by a thread (tid %u) of vpid %u", v.value,
                                            rec->real.value, rec->tgid.value));
      return Status::failure(EEXIST, strf("vpid %u is still running (real pid %u); end it before restoring "
                                          "(vproc kill -KILL %u)",
                                          v.value, rec->real.value, v.value));
    }
    // Exited (a zombie, or reaped and kept for its process group): the
    // restored process takes the vpid over.
    log_.event("restored: vpid %u (pid %u) has exited; its record gives way", v.value, rec->real.value);
    free_record(v);
  } else if (VPid holder = leases_.holder_of(v)) {
    return Status::failure(EEXIST, strf("vpid %u is reserved for a child of vpid %u, which is running; it "
                                        "cannot be restored now",
                                        v.value, holder.value));
  }
  // A restoring process that was itself under vproc gives up its old vpid
  // (install() frees the record that named its pid).
  Status s = register_peer(peer, v, msg.parent, -1);
  if (s.ok()) log_.event("restored: vpid %u continues as pid %u", v.value, peer.pid.value);
  return s;
}

}  // namespace vproc::daemon
