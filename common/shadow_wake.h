// How a node daemon continues a migrated process's shadow that is stopped
// because its guest was (docs/cluster.md, "Stops and continues"): a stopped
// process runs no code, so it cannot read the guest's Continued; the daemon
// sends it SIGCONT with sigqueue(3) and this value. The shadow forwards every
// other SIGCONT it gets to the guest; this one it does not (the guest runs
// already, and must see each SIGCONT once).
#pragma once

namespace vproc {

inline constexpr int kShadowWakeValue = 0x76707763;  // "vpwc"

}  // namespace vproc
