// A migration's checkpoint (kCkptMigrate; docs/cluster.md, steps 2 and 4):
// the process does not go on after its snapshot. The snapshot writer reports
// the image as for any checkpoint, then asks the daemon for the migration's
// verdict (MigrateWait, answered once the migration is decided) and passes
// it to the frozen process on the sync pipe:
//   continue  the migration failed: the handler returns, the program goes on;
//   shadow    the process now runs elsewhere and this is its home node: exec
//             vproc-shadow (same pid, so the parent's wait still works);
//   quit      the process now runs elsewhere: exit without running any
//             program code (the daemon kills it anyway).
// No verdict (the writer or the daemon died, the daemon refused) and a failed
// checkpoint mean continue: the process is never lost for want of an answer.
#pragma once

#include <cstdint>

#include "ckpt_state.h"

namespace vproc::lib {

// What the writer sends after its CkptPipeResult: one write, smaller than
// PIPE_BUF, so it arrives whole or not at all.
struct CkptVerdictMsg {
  uint32_t magic;
  uint8_t action;  // wire::VerdictAction
  uint32_t target;  // node index of the guest
  uint64_t migration;
};
inline constexpr uint32_t kVerdictMagic = 0x56524454u;  // "VRDT"

// Library init: $VPROC_SHADOW, else <libvproc.so's dir>/../bin/vproc-shadow.
void migrate_find_shadow(CkptState& c, const char* lib_path);

// The snapshot writer, before writing the image: why this process could not
// carry out a "shadow" verdict (nullptr: it could). `buf` holds the text.
const char* migrate_refusal(const CkptState& c, char* buf, unsigned cap);

// The snapshot writer, once the image is complete and reported: waits for the
// daemon's verdict and passes it on (nothing on any failure: EOF = continue).
void migrate_pass_verdict(const CkptState& c);

// The frozen process, once the writer said the image is complete: waits on
// `sync_r` for the verdict and carries it out. Returns only for "continue".
// Every signal stays blocked meanwhile (the handler's mask).
void migrate_await_verdict(int sync_r);

}  // namespace vproc::lib
