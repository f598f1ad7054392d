// This thread's vtid.
//
// The main thread's vtid is the process's vpid. Another thread gets one when
// it starts (pthread_create's trampoline, ckpt_mask_guard.cc, so that listings
// of /proc/<pid>/task show it: wrap_readdir.cc), or else the first time
// anybody needs it (gettid, a translation of its tid): a vpid from the lease,
// announced to the daemon as Spawned{thread}. Cached in initial-exec TLS, so
// usable in signal handlers.
#pragma once

#include <cstdint>

namespace vproc::lib {

// The calling thread's vtid; its real tid if no vpid could be had (daemon
// down and the lease empty). Requires active().
uint32_t current_vtid();

}  // namespace vproc::lib
