// Processes that share our memory: clone(CLONE_VM) without CLONE_THREAD, the
// hand-made vfork some runtimes use before exec.
//
// Such a child runs on our ProcessState (it is the same memory), so it cannot
// be given an identity by writing it there: its vpid is kept in a slot of its
// own, found by its real pid when it execs (the new image then learns the vpid
// from VPROC_SELF like any exec). Until then its getpid() shows ours: getpid()
// must not cost a system call, and nothing cheaper tells the two apart.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pid_types.h"
#include "state.h"

namespace vproc::lib {

// Reserves a slot for a child about to be cloned; nullptr when all are taken.
VmChildSlot* vm_child_claim(VPid v, int (*fn)(void*), void* arg, uint64_t saved_mask);

// The child's start function (clone's fn) with the slot as argument: notes its
// pid, restores the program's signal mask, runs the program's fn.
int vm_child_entry(void* slot);

// The slot of the calling process if it is such a child, else nullptr.
VmChildSlot* vm_child_self();

// Frees a slot (and the environment mapping its exec left in our memory). The
// child must be done with our memory: exec'd or gone (clone returned for
// CLONE_VFORK; reaped otherwise).
void vm_child_release(VmChildSlot* slot);

// On reaping `v`: releases its slot if it had one.
void vm_child_reaped(VPid v);

}  // namespace vproc::lib
