// Process-wide facts the snapshot writer reads from /proc and the kernel
// (ckpt_facts.cc) for the image's metadata.
#pragma once

#include <cstdint>

#include "ckpt_records.h"
#include "ckpt_state.h"

namespace vproc::lib {

struct ProcessFacts {
  uint32_t vpid, parent, node, uid, gid, real_pid;
  const char* exe;
  const char* cmdline;  // NUL-separated
  long cmdline_len;
  const char* cwd;
  uint32_t umask, personality;
  uint64_t rlimits[16][2];
  uint64_t mm[11];  // start_code end_code start_data end_data start_brk brk start_stack arg_start arg_end env_start env_end
  const char* auxv;
  long auxv_len;
  const char* comm;
  uint64_t wall_ns, mono_ns, frozen_ns;
  uint64_t state_addr;
  uint32_t generation;
  const char* release;
  const char* hostname;
  uint64_t xcr0, hwcap, hwcap2;
  uint64_t sigactions[64][4];  // handler flags restorer mask
};

// Fills `f` (strings live in `s`). 0 or -errno.
int collect_facts(Scratch& s, ProcessFacts& f);

// ckpt_meta.cc: encodes the metadata message (a flat Cap'n Proto message
// with its segment table) and writes it at the output's position; its length
// and hash go to *len and *hash. 0 or -errno.
int write_metadata(Scratch& s, ImageOut& out, const ProcessFacts& f, const CkptState& c, size_t* len,
                   uint64_t* hash);

}  // namespace vproc::lib
