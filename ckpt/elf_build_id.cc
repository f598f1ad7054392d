#include "elf_build_id.h"

#include <elf.h>
#include <unistd.h>

#include <cstring>

namespace vproc::restore {
namespace {

bool read_at(int fd, void* out, size_t len, uint64_t offset) {
  return pread(fd, out, len, off_t(offset)) == ssize_t(len);
}

}  // namespace

std::vector<uint8_t> read_elf_build_id(int fd) {
  Elf64_Ehdr eh;
  if (!read_at(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_phentsize != sizeof(Elf64_Phdr))
    return {};
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (!read_at(fd, &ph, sizeof ph, eh.e_phoff + uint64_t(i) * sizeof ph)) return {};
    if (ph.p_type != PT_NOTE || ph.p_filesz > (1u << 20)) continue;
    std::vector<uint8_t> notes(ph.p_filesz);
    if (!read_at(fd, notes.data(), notes.size(), ph.p_offset)) continue;
    // Each note: namesz, descsz, type, then name and desc, each padded to 4.
    for (size_t at = 0; at + sizeof(Elf64_Nhdr) <= notes.size();) {
      Elf64_Nhdr nh;
      memcpy(&nh, &notes[at], sizeof nh);
      size_t name = at + sizeof nh, desc = name + ((uint64_t(nh.n_namesz) + 3) & ~3ull);
      size_t next = desc + ((uint64_t(nh.n_descsz) + 3) & ~3ull);
      if (next > notes.size() || desc > notes.size()) break;
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && memcmp(&notes[name], "GNU", 4) == 0 &&
          desc + nh.n_descsz <= notes.size())
        return std::vector<uint8_t>(notes.begin() + desc, notes.begin() + desc + nh.n_descsz);
      at = next;
    }
  }
  return {};
}

}  // namespace vproc::restore
