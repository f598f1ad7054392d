// Function symbols of an ELF object, for naming backtrace frames: from the file
// itself (.symtab and .dynsym, when the file on this host is the one the
// process mapped), or else from the process's memory (.dynsym through
// PT_DYNAMIC: all the vdso has, and all of a changed or embedded file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "elf_image.h"

namespace vproc::image {

class SymbolTable {
 public:
  // The nearest function symbol at or below link-time address VADDR: its name
  // (demangled) and VADDR's offset from it. False if there is none.
  bool lookup(uint64_t vaddr, std::string* name, uint64_t* offset) const;
  bool empty() const { return syms_.empty(); }

  // From the ELF file open at FD; empty if it is not one.
  static SymbolTable from_file(int fd);
  // From the dynamic symbol table of M in IMG's memory; empty if unreadable.
  static SymbolTable from_memory(const ImageFile& img, const ElfMapping& m);

 private:
  struct Sym {
    uint64_t value;
    std::string name;
  };
  void add(uint64_t value, std::string name);
  void finish();  // sort, drop duplicates
  std::vector<Sym> syms_;
};

}  // namespace vproc::image
