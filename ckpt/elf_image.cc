#include "elf_image.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace vproc::image {
namespace {

constexpr uint16_t kMaxPhdrs = 256;

template <typename T>
bool read_value(const ImageFile& img, uint64_t addr, T* out) {
  return img.read_memory(addr, out, sizeof(T));
}

// Where the ELF header of the object that vma V belongs to was mapped.
bool elf_base(const Image& img, const Vma& v, uint64_t* base) {
  if (v.file >= 0) {
    // The nearest mapping at or below V of the same file at offset 0.
    for (auto it = img.vmas.rbegin(); it != img.vmas.rend(); ++it) {
      if (it->start > v.start || it->file != v.file || it->file_offset != 0) continue;
      *base = it->start;
      return true;
    }
    return false;
  }
  // The vdso is an ELF image in an anonymous mapping.
  const Range& vdso = img.kernel.vdso;
  if (!vdso.empty() && v.start <= vdso.start && vdso.start < v.end) {
    *base = vdso.start;
    return true;
  }
  if (v.name == "[vdso]") {
    *base = v.start;
    return true;
  }
  return false;
}

// Reads a DWARF-encoded pointer (DW_EH_PE_*) at *ADDR, advancing it. Only the
// encodings .eh_frame_hdr uses: absolute/pc-relative/data-relative fixed-size.
bool read_encoded(const ImageFile& img, uint64_t* addr, uint8_t enc, uint64_t datarel, uint64_t* out) {
  const uint64_t at = *addr;
  uint64_t v = 0;
  switch (enc & 0x0f) {
    case 0x00: case 0x04: case 0x0c: {  // absptr, udata8, sdata8
      if (!read_value(img, at, &v)) return false;
      *addr += 8;
      break;
    }
    case 0x03: {  // udata4
      uint32_t u;
      if (!read_value(img, at, &u)) return false;
      v = u;
      *addr += 4;
      break;
    }
    case 0x0b: {  // sdata4
      int32_t s;
      if (!read_value(img, at, &s)) return false;
      v = uint64_t(int64_t(s));
      *addr += 4;
      break;
    }
    default: return false;
  }
  switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += at; break;       // pcrel
    case 0x30: v += datarel; break;  // datarel
    default: return false;
  }
  *out = v;
  return true;
}

}  // namespace

const Vma* vma_at(const Image& img, uint64_t addr) {
  auto it = std::upper_bound(img.vmas.begin(), img.vmas.end(), addr,
                             [](uint64_t a, const Vma& m) { return a < m.start; });
  if (it == img.vmas.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

bool find_elf_mapping(const ImageFile& file, uint64_t ip, ElfMapping* out) {
  const Image& img = file.image();
  const Vma* v = vma_at(img, ip);
  uint64_t base = 0;
  if (!v || !elf_base(img, *v, &base)) return false;
  Elf64_Ehdr eh;
  if (!read_value(file, base, &eh)) return false;
  if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
      eh.e_phnum > kMaxPhdrs || eh.e_phoff > (1u << 20))
    return false;
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  if (!file.read_memory(base + eh.e_phoff, ph.data(), ph.size() * sizeof(Elf64_Phdr))) return false;

  // The segment mapped at file offset 0 holds the ELF header: that fixes the bias.
  const Elf64_Phdr* first = nullptr;
  for (const Elf64_Phdr& p : ph)
    if (p.p_type == PT_LOAD && (!first || p.p_vaddr < first->p_vaddr)) first = &p;
  if (!first || first->p_offset != 0) return false;
  const uint64_t bias = base - first->p_vaddr;

  ElfMapping m;
  m.base = base;
  m.bias = bias;
  m.file = v->file;
  m.name = v->file >= 0 ? img.files[v->file].path : v->name.empty() ? std::string("[vdso]") : v->name;
  const uint64_t rel = ip - bias;  // link-time address of ip
  for (const Elf64_Phdr& p : ph) {
    if (p.p_type == PT_LOAD && (p.p_flags & PF_X) && rel >= p.p_vaddr && rel - p.p_vaddr < p.p_memsz) {
      m.text_start = bias + p.p_vaddr;
      m.text_end = m.text_start + p.p_memsz;
    } else if (p.p_type == PT_GNU_EH_FRAME) {
      m.eh_frame_hdr = bias + p.p_vaddr;
    } else if (p.p_type == PT_DYNAMIC) {
      m.dynamic = bias + p.p_vaddr;
      m.dynamic_size = p.p_memsz;
    }
  }
  if (m.text_end == 0) return false;
  *out = std::move(m);
  return true;
}

bool read_eh_frame_table(const ImageFile& img, uint64_t hdr, EhFrameTable* out) {
  uint8_t h[4];  // version, eh_frame_ptr_enc, fde_count_enc, table_enc
  if (!img.read_memory(hdr, h, sizeof h) || h[0] != 1) return false;
  // The table must be sorted 4-byte data-relative pairs (libunwind's binary
  // search reads it as such).
  if (h[3] != 0x3b) return false;
  uint64_t at = hdr + 4, eh_frame = 0, count = 0;
  if (!read_encoded(img, &at, h[1], hdr, &eh_frame) || !read_encoded(img, &at, h[2], hdr, &count)) return false;
  if (count == 0 || count > (1u << 24)) return false;
  // All of the table must be readable.
  uint64_t last;
  if (!img.read_memory(at + (count - 1) * 8, &last, sizeof last)) return false;
  *out = EhFrameTable{hdr, at, count};
  return true;
}

}  // namespace vproc::image
