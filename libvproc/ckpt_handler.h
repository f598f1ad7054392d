// The checkpoint signal: installing its handler, and what the handler does
// (capture this thread, freeze for a snapshot, or finish a restore).
#pragma once

#include <signal.h>

#include <cstdint>

namespace vproc::lib {

// Default checkpoint signal: a real-time signal (it queues, PITFALLS 14) far
// from SIGRTMIN, where programs allocate theirs. VPROC_CKPT_SIGNAL overrides
// it (a number, or 0 to disable checkpointing in this process).
inline constexpr int kDefaultCkptSignal = 62;

// Installs the handler (library init and after exec). Returns the signal, 0 if
// disabled or it could not be installed.
int ckpt_install();
// The checkpoint signal of this process (0: none), told to the daemon.
int ckpt_signal_number();

// The value the daemon (or the C API) puts in si_value: who asked, and how.
constexpr uint64_t ckpt_request_value(uint32_t request_id, uint32_t flags) {
  return (uint64_t(0x56435054u) << 32) | (uint64_t(flags & 0xff) << 24) | (request_id & 0xffffff);
}
constexpr bool is_ckpt_request_value(uint64_t v) { return (v >> 32) == 0x56435054u; }

// Takes a checkpoint of this process now, from the calling thread (C API).
// Returns 0 or -errno; `message` gets the writer's explanation of a failure.
int ckpt_self(const char* path, uint32_t flags, char* message, unsigned message_cap);

}  // namespace vproc::lib
