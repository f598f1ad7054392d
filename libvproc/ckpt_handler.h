// The checkpoint signal: installing its handler, and what the handler does
// (capture this thread, freeze for a snapshot, or finish a restore).
#pragma once

#include <signal.h>

#include <cstdint>

#include "ckpt_request.h"

namespace vproc::lib {

// Installs the handler (library init and after exec). Returns the signal, 0 if
// disabled or it could not be installed.
int ckpt_install();
// The checkpoint signal of this process (0: none), told to the daemon.
int ckpt_signal_number();


// In a restored process, the program's executable when `proc_path` is this
// process's own exe link (/proc/self/exe, /proc/<vpid or real pid>/exe): the
// kernel's link names vproc-restorer unless PR_SET_MM_EXE_FILE was allowed.
// Null otherwise (not restored, or another path).
const char* restored_exe_for(const char* proc_path);

// The vpid of a child that was recorded before the last restore under real
// pid `real` (0 if none): a wait() the checkpoint interrupted just after the
// kernel reaped that child reports it only after the restore, when the child
// table belongs to the new life.
uint32_t child_before_restore(uint32_t real);

// Takes a checkpoint of this process now, from the calling thread (C API).
// Returns 0 or -errno; `message` gets the writer's explanation of a failure.
int ckpt_self(const char* path, uint32_t flags, char* message, unsigned message_cap);

}  // namespace vproc::lib
