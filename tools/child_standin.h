// vproc-shadow --child PARENT CHILD GUEST: the stand-in for a remote child
// (docs/cluster.md, "Children left behind").
//
// A migrated parent's children stayed on the node it left, kernel children of
// its shadow there. For each, the guest's library starts one stand-in, a real
// child of the guest, that takes on the remote child's states as they come:
// it exits with the same status (or dies of the same signal), stops with the
// same signal and continues when the child does. So the kernel gives the
// guest the child's wait statuses and SIGCHLD (its si_pid, the stand-in's real
// pid, the library shows as the child's vpid), for every wait function and
// option, signalfd and sigwaitinfo included.
//
// Two processes: the stand-in itself, which only ever blocks, stops or ends,
// and a helper (its child) that asks the daemon for the child's next state
// (ChildWait, a long poll) and tells the stand-in over a pipe, or continues
// it when it is stopped (a stopped process cannot ask for anything). Both die
// with the guest (PR_SET_PDEATHSIG): a guest that moves on leaves its
// stand-ins behind, and its restored copy starts new ones.
#pragma once

#include <cstdint>

namespace vproc::shadow {

// `guest`: the guest's real pid (the stand-in's expected parent).
[[noreturn]] void run_child_standin(uint32_t parent, uint32_t child, uint32_t guest, const char* socket_path);

}  // namespace vproc::shadow
