// The call stack of a checkpointed thread, from the image alone: libunwind's
// remote unwinder reads the process's memory through ImageFile::read_memory
// and finds unwind tables in the .eh_frame_hdr of the ELF object holding each
// address. Frame 0 is the interrupted code (the registers in the thread's
// signal frame), not the checkpoint handler.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "image_reader.h"

namespace vproc::image {

struct Frame {
  uint64_t ip = 0;
  std::string file;    // the object's path ("[vdso]"), "" if in no ELF object
  std::string symbol;  // nearest function symbol at or below ip, "" if none
  uint64_t offset = 0;  // ip - symbol
};

// Unwinds THREAD, innermost frame first, at most MAX_DEPTH frames. Never
// throws for bad image data: the walk stops where memory or unwind information
// runs out (a thread without a readable ip still gets its frame 0).
std::vector<Frame> backtrace(const ImageFile& img, const Thread& thread, size_t max_depth = 64);

// "#0 0x7f3a12b4c5d6 in nanosleep+0x16 (/lib/x86_64-linux-gnu/libc.so.6)"
std::string format_frame(size_t index, const Frame& f);

}  // namespace vproc::image
