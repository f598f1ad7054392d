// Messages on stderr from inside the library: pieces joined into one buffer and
// written with a single write(2) (no stdio, no allocation), so a message is never
// interleaved with another thread's output or torn by a signal handler.
#pragma once

#include <cstdint>
#include <initializer_list>

namespace vproc::lib {

// Writes "vproc: " + pieces + "\n" to fd 2. Async-signal-safe; keeps errno.
void diag(std::initializer_list<const char*> pieces);

// Like diag(), but at most once per process for each `notice` bit (state.h Notice).
void diag_once(uint32_t notice, std::initializer_list<const char*> pieces);

// A description of an errno value that needs no locale or allocation.
const char* errno_text(int err);

// Decimal text of `v` in `buf` (at least 21 bytes); returns buf.
char* format_u64(uint64_t v, char* buf);

}  // namespace vproc::lib
