// The GNU build-id of an ELF file on disk (the NT_GNU_BUILD_ID note), to say
// in a message whether a library is another build of the checkpointed one.
#pragma once

#include <cstdint>
#include <vector>

namespace vproc::restore {

// The build-id bytes of the 64-bit little-endian ELF file open at FD; empty if
// it is not one or has no build-id. Reads with pread: the offset is unchanged.
std::vector<uint8_t> read_elf_build_id(int fd);

}  // namespace vproc::restore
