// Children a migrated process left behind (docs/cluster.md, "Children left
// behind"): they stay on the node it left, kernel children of its shadow
// there, and this process has a local stand-in for each (vproc-shadow --child,
// tools/child_standin.h), a real child that takes on the remote child's wait
// states. The kernel's wait statuses and SIGCHLD then come from the stand-ins;
// this table turns a stand-in's real pid into the child's vpid (wait*,
// si_pid) and a waitpid(child vpid) into a wait for its stand-in. Signals to
// the child's vpid go to the child itself, never to the stand-in.
//
// The table is library memory, so it travels in every image: a guest that
// migrates again starts new stand-ins where it is restored.
//
// Async-signal-safe (fixed slots, atomics, raw system calls).
#pragma once

#include "pid_types.h"

namespace vproc::lib {

inline constexpr int kMaxRemoteChildren = 64;

// The checkpoint handler, before every snapshot: notes this process's live
// children (those a migration would leave behind).
void remote_children_note();
// After a restore, before any program code runs (a guest: after the
// migration's commit): a guest takes the noted children as remote ones, and
// a stand-in is started for each remote child.
void remote_children_adopt();

// The vpid of the remote child `r` stands in for (0: `r` is no stand-in).
VPid remote_child_of_standin(RealPid r);
// The stand-in of remote child `v` (0: `v` is no remote child).
RealPid remote_standin_of(VPid v);
// The stand-in of `v` was reaped: `v` is no child any more.
void remote_child_reaped(VPid v);
// How many stand-ins are live (or not yet reaped) children of this process.
int remote_standin_count();
// Whether this process has children of its own (not stand-ins) not reaped yet.
bool own_children_live();
// Ends every stand-in (SIGKILL): this copy of the process is moving on.
void remote_standins_kill();

}  // namespace vproc::lib
