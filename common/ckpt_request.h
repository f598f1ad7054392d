// How a checkpoint is asked for, shared by libvproc (which answers), vprocd
// (which asks) and the tools: the signal, and what its si_value carries.
#pragma once

#include <cstdint>

namespace vproc {

// Default checkpoint signal: a real-time signal (it queues, PITFALLS 14) far
// from SIGRTMIN, where programs allocate theirs. VPROC_CKPT_SIGNAL overrides
// it (a number, or 0 to disable checkpointing in the process).
inline constexpr int kDefaultCkptSignal = 62;

// The checkpoint signal a value of VPROC_CKPT_SIGNAL selects: `text` null or
// empty means the default; "0" means none (0); anything that is not a signal
// a handler can be installed for (1-64 but SIGKILL 9, SIGSTOP 19 and glibc's
// own 32 and 33) is invalid (-1). libvproc and vproc-run share this rule.
constexpr int parse_ckpt_signal(const char* text) {
  if (!text || !*text) return kDefaultCkptSignal;
  int v = 0;
  for (; *text; ++text) {
    if (*text < '0' || *text > '9') return -1;
    v = v * 10 + (*text - '0');
    if (v > 64) return -1;
  }
  return v == 9 || v == 19 || v == 32 || v == 33 ? -1 : v;
}
static_assert(parse_ckpt_signal(nullptr) == kDefaultCkptSignal && parse_ckpt_signal("0") == 0 &&
              parse_ckpt_signal("40") == 40 && parse_ckpt_signal("33") == -1 && parse_ckpt_signal("6x") == -1);

// Request flags (vproc checkpoint --stop / --embed-files).
enum CkptFlags : uint32_t {
  kCkptStop = 1,         // stay stopped (SIGSTOP) once the image is complete
  kCkptEmbedFiles = 2,   // store file-backed pages instead of referencing files
  // A migration's checkpoint (docs/cluster.md): the process does not go on
  // after the snapshot; its writer asks the daemon for the verdict (MigrateWait)
  // and passes it on: continue here, become vproc-shadow, or exit.
  kCkptMigrate = 4,
};

// si_value of a checkpoint request (sent with si_code SI_QUEUE): a tag, the
// flags and the daemon's 24-bit request id (0: a request of the process itself).
constexpr uint64_t ckpt_request_value(uint32_t request_id, uint32_t flags) {
  return (uint64_t(0x56435054u) << 32) | (uint64_t(flags & 0xff) << 24) | (request_id & 0xffffff);
}
constexpr bool is_ckpt_request_value(uint64_t v) { return (v >> 32) == 0x56435054u; }

}  // namespace vproc
