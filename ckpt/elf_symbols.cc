#include "elf_symbols.h"

#include <cxxabi.h>
#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace vproc::image {
namespace {

// Bounds that no sane object exceeds; a damaged one stops being read there.
constexpr uint64_t kMaxSymbols = 1u << 22;
constexpr uint64_t kMaxStrtab = 256u << 20;

bool pread_exact(int fd, void* out, size_t len, uint64_t offset) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, static_cast<char*>(out) + got, len - got, off_t(offset + got));
    if (n <= 0) return false;
    got += size_t(n);
  }
  return true;
}

bool wanted(const Elf64_Sym& s) {
  int type = ELF64_ST_TYPE(s.st_info);
  return (type == STT_FUNC || type == STT_GNU_IFUNC) && s.st_shndx != SHN_UNDEF && s.st_value != 0;
}

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || !d) return name;
  std::string out(d);
  free(d);
  return out;
}

// The NUL-terminated name at OFF in STRTAB, or "".
const char* name_at(const std::vector<char>& strtab, uint32_t off) {
  if (off >= strtab.size() || memchr(strtab.data() + off, 0, strtab.size() - off) == nullptr) return "";
  return strtab.data() + off;
}

}  // namespace

void SymbolTable::add(uint64_t value, std::string name) {
  if (!name.empty()) syms_.push_back(Sym{value, std::move(name)});
}

void SymbolTable::finish() {
  // Of aliases at one address (__getpid, getpid), keep the public name: the
  // one with the fewest leading underscores.
  auto underscores = [](const std::string& n) { return n.find_first_not_of('_'); };
  std::stable_sort(syms_.begin(), syms_.end(), [&](const Sym& a, const Sym& b) {
    return a.value != b.value ? a.value < b.value : underscores(a.name) < underscores(b.name);
  });
  syms_.erase(std::unique(syms_.begin(), syms_.end(), [](const Sym& a, const Sym& b) { return a.value == b.value; }),
              syms_.end());
}

bool SymbolTable::lookup(uint64_t vaddr, std::string* name, uint64_t* offset) const {
  auto it = std::upper_bound(syms_.begin(), syms_.end(), vaddr, [](uint64_t v, const Sym& s) { return v < s.value; });
  if (it == syms_.begin()) return false;
  --it;
  *name = demangle(it->name.c_str());
  *offset = vaddr - it->value;
  return true;
}

SymbolTable SymbolTable::from_file(int fd) {
  SymbolTable t;
  struct stat st;
  Elf64_Ehdr eh;
  if (fstat(fd, &st) != 0 || !pread_exact(fd, &eh, sizeof eh, 0)) return t;
  const uint64_t size = uint64_t(st.st_size);
  if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 || eh.e_shoff > size ||
      uint64_t(eh.e_shnum) * sizeof(Elf64_Shdr) > size - eh.e_shoff)
    return t;
  std::vector<Elf64_Shdr> sh(eh.e_shnum);
  if (!pread_exact(fd, sh.data(), sh.size() * sizeof(Elf64_Shdr), eh.e_shoff)) return t;
  for (const Elf64_Shdr& s : sh) {
    if ((s.sh_type != SHT_SYMTAB && s.sh_type != SHT_DYNSYM) || s.sh_link >= sh.size()) continue;
    const Elf64_Shdr& str = sh[s.sh_link];
    uint64_t count = s.sh_size / sizeof(Elf64_Sym);
    if (count > kMaxSymbols || s.sh_offset > size || s.sh_size > size - s.sh_offset || str.sh_size > kMaxStrtab ||
        str.sh_offset > size || str.sh_size > size - str.sh_offset)
      continue;
    std::vector<Elf64_Sym> syms(count);
    std::vector<char> strtab(str.sh_size);
    if (!pread_exact(fd, syms.data(), count * sizeof(Elf64_Sym), s.sh_offset) ||
        !pread_exact(fd, strtab.data(), strtab.size(), str.sh_offset))
      continue;
    for (const Elf64_Sym& y : syms)
      if (wanted(y)) t.add(y.st_value, name_at(strtab, y.st_name));
  }
  t.finish();
  return t;
}

namespace {

// Number of .dynsym entries from DT_GNU_HASH: one past the highest symbol any
// hash chain reaches (the table has no count of its own).
bool gnu_hash_count(const ImageFile& img, uint64_t hash, uint64_t* count) {
  uint32_t hdr[4];  // nbuckets, symoffset, bloom_size, bloom_shift
  if (!img.read_memory(hash, hdr, sizeof hdr) || hdr[0] == 0 || hdr[0] > (1u << 22) || hdr[2] > (1u << 22))
    return false;
  std::vector<uint32_t> buckets(hdr[0]);
  const uint64_t buckets_at = hash + sizeof hdr + uint64_t(hdr[2]) * 8;
  if (!img.read_memory(buckets_at, buckets.data(), buckets.size() * 4)) return false;
  uint32_t last = *std::max_element(buckets.begin(), buckets.end());
  if (last < hdr[1]) {
    *count = hdr[1];
    return true;
  }
  // The last chain ends with an entry whose low bit is set.
  const uint64_t chains_at = buckets_at + uint64_t(hdr[0]) * 4;
  uint32_t block[256];
  for (uint64_t i = last; i < kMaxSymbols;) {
    const uint64_t at = chains_at + (i - hdr[1]) * 4;
    size_t n = 256;
    if (!img.read_memory(at, block, sizeof block)) {  // near the end of the mapping: one at a time
      n = 1;
      if (!img.read_memory(at, block, 4)) return false;
    }
    for (size_t k = 0; k < n; ++k) {
      if (block[k] & 1) {
        *count = i + k + 1;
        return true;
      }
    }
    i += n;
  }
  return false;
}

}  // namespace

SymbolTable SymbolTable::from_memory(const ImageFile& img, const ElfMapping& m) {
  SymbolTable t;
  if (m.dynamic == 0 || m.dynamic_size > (64u << 10)) return t;
  std::vector<Elf64_Dyn> dyn(m.dynamic_size / sizeof(Elf64_Dyn));
  if (!img.read_memory(m.dynamic, dyn.data(), dyn.size() * sizeof(Elf64_Dyn))) return t;
  uint64_t symtab = 0, strtab = 0, strsz = 0, hash = 0, gnu_hash = 0;
  // ld.so relocates these in place in the dynamic section of the objects it
  // loads; the vdso's (read-only) keeps link-time addresses.
  auto addr = [&](uint64_t v) { return v < m.bias ? v + m.bias : v; };
  for (const Elf64_Dyn& d : dyn) {
    if (d.d_tag == DT_NULL) break;
    switch (d.d_tag) {
      case DT_SYMTAB: symtab = addr(d.d_un.d_ptr); break;
      case DT_STRTAB: strtab = addr(d.d_un.d_ptr); break;
      case DT_STRSZ: strsz = d.d_un.d_val; break;
      case DT_HASH: hash = addr(d.d_un.d_ptr); break;
      case DT_GNU_HASH: gnu_hash = addr(d.d_un.d_ptr); break;
    }
  }
  uint64_t count = 0;
  uint32_t nchain[2];
  if (hash && img.read_memory(hash, nchain, sizeof nchain))
    count = nchain[1];
  else if (!gnu_hash || !gnu_hash_count(img, gnu_hash, &count))
    return t;
  if (!symtab || !strtab || count > kMaxSymbols || strsz > kMaxStrtab) return t;
  std::vector<Elf64_Sym> syms(count);
  std::vector<char> strs(strsz);
  if (!img.read_memory(symtab, syms.data(), count * sizeof(Elf64_Sym)) ||
      !img.read_memory(strtab, strs.data(), strs.size()))
    return t;
  for (const Elf64_Sym& y : syms)
    if (wanted(y)) t.add(y.st_value, name_at(strs, y.st_name));
  t.finish();
  return t;
}

}  // namespace vproc::image
