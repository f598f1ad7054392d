// How a checkpoint is asked for, shared by libvproc (which answers), vprocd
// (which asks) and the tools: the signal, and what its si_value carries.
#pragma once

#include <cstdint>

namespace vproc {

// Default checkpoint signal: a real-time signal (it queues, PITFALLS 14) far
// from SIGRTMIN, where programs allocate theirs. VPROC_CKPT_SIGNAL overrides
// it (a number, or 0 to disable checkpointing in the process).
inline constexpr int kDefaultCkptSignal = 62;

// Request flags (vproc checkpoint --stop / --embed-files).
enum CkptFlags : uint32_t {
  kCkptStop = 1,         // stay stopped (SIGSTOP) once the image is complete
  kCkptEmbedFiles = 2,   // store file-backed pages instead of referencing files
};

// si_value of a checkpoint request (sent with si_code SI_QUEUE): a tag, the
// flags and the daemon's 24-bit request id (0: a request of the process itself).
constexpr uint64_t ckpt_request_value(uint32_t request_id, uint32_t flags) {
  return (uint64_t(0x56435054u) << 32) | (uint64_t(flags & 0xff) << 24) | (request_id & 0xffffff);
}
constexpr bool is_ckpt_request_value(uint64_t v) { return (v >> 32) == 0x56435054u; }

}  // namespace vproc
