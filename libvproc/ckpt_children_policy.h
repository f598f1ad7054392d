// Whether a checkpoint may be taken of a process that has children
// (docs/cluster.md, "Children left behind").
//
// Children are never part of an image. A plain checkpoint of a process with
// children is refused: its restored copy could not wait for them. A
// migration's checkpoint is not: the children stay where they are, kernel
// children of the process's shadow (at its home node) or of the old copy of a
// guest, which lingers as their parent (ckpt_migrate.h), and the guest waits
// for them through stand-ins (remote_children.h). Stand-ins never count: they
// are started anew at every restore.
#pragma once

#include "ckpt_state.h"

namespace vproc::lib {

// The snapshot writer, when c.child_count > 0 (the first ones in c.children):
// nullptr if the checkpoint may go ahead, else why not (the text is in `buf`).
const char* ckpt_children_refusal(const CkptState& c, char* buf, unsigned cap);

}  // namespace vproc::lib
