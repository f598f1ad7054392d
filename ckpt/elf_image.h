// ELF objects as a checkpointed process had them mapped, found from the image
// alone (its vmas and read_memory): where an object was loaded, its unwind
// table, its dynamic section. For backtraces; every read is checked, so a
// damaged image gives "not found", never a crash.
#pragma once

#include <cstdint>
#include <string>

#include "image_reader.h"

namespace vproc::image {

struct ElfMapping {
  uint64_t base = 0;  // runtime address of the ELF header
  uint64_t bias = 0;  // runtime address = bias + link-time address (p_vaddr)
  uint64_t text_start = 0, text_end = 0;  // the executable PT_LOAD holding the address asked for
  uint64_t eh_frame_hdr = 0;              // runtime address of .eh_frame_hdr, 0: none
  uint64_t dynamic = 0, dynamic_size = 0;  // PT_DYNAMIC, 0: none
  int32_t file = -1;                       // index into Image::files; -1: not file-backed (the vdso)
  std::string name;                        // the file's path, or the vma's name ("[vdso]")
};

// The vma holding ADDR, or nullptr.
const Vma* vma_at(const Image& img, uint64_t addr);

// The ELF object whose executable segment holds IP. False if IP is in no vma,
// in no ELF object, or not in its code.
bool find_elf_mapping(const ImageFile& img, uint64_t ip, ElfMapping* out);

// The binary search table of an .eh_frame_hdr: fde_count pairs of signed
// 32-bit (initial location, FDE address), both relative to `hdr`.
struct EhFrameTable {
  uint64_t hdr = 0, table = 0, fde_count = 0;
};
bool read_eh_frame_table(const ImageFile& img, uint64_t hdr, EhFrameTable* out);

}  // namespace vproc::image
