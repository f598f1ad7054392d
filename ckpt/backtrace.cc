#include "backtrace.h"

#include <libunwind.h>
#include <sys/mman.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include <cinttypes>
#include <cstddef>
#include <map>
#include <memory>

#include "elf_image.h"
#include "elf_symbols.h"
#include "host_file.h"

// libunwind's DWARF table search, exported by libunwind-x86_64 but declared in
// no installed header (Linux perf declares it the same way).
extern "C" int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip, unw_dyn_info_t* di,
                                                  unw_proc_info_t* pi, int need_unwind_info, void* arg);

namespace vproc::image {
namespace {

constexpr int kNumRegs = UNW_X86_64_RIP + 1;

// What the accessors see through libunwind's `arg`.
struct Target {
  const ImageFile& img;
  unw_word_t regs[kNumRegs] = {};
  bool known[kNumRegs] = {};

  void set(int reg, uint64_t v) {
    regs[reg] = v;
    known[reg] = true;
  }
  // The interrupted code's registers: every general register from the
  // ucontext_t the kernel saved on the signal stack (Thread.frame), when it
  // agrees with the ip/sp the handler recorded; else just those.
  void load(const Thread& t) {
    set(UNW_X86_64_RIP, t.ip);
    set(UNW_X86_64_RSP, t.sp);
    set(UNW_X86_64_RBP, t.bp);
    greg_t g[NGREG];
    if (t.frame == 0 || !img.read_memory(t.frame + offsetof(ucontext_t, uc_mcontext.gregs), g, sizeof g)) return;
    if (uint64_t(g[REG_RIP]) != t.ip || uint64_t(g[REG_RSP]) != t.sp) return;
    static constexpr std::pair<int, int> kMap[] = {
        {UNW_X86_64_RAX, REG_RAX}, {UNW_X86_64_RDX, REG_RDX}, {UNW_X86_64_RCX, REG_RCX}, {UNW_X86_64_RBX, REG_RBX},
        {UNW_X86_64_RSI, REG_RSI}, {UNW_X86_64_RDI, REG_RDI}, {UNW_X86_64_RBP, REG_RBP}, {UNW_X86_64_R8, REG_R8},
        {UNW_X86_64_R9, REG_R9},   {UNW_X86_64_R10, REG_R10}, {UNW_X86_64_R11, REG_R11}, {UNW_X86_64_R12, REG_R12},
        {UNW_X86_64_R13, REG_R13}, {UNW_X86_64_R14, REG_R14}, {UNW_X86_64_R15, REG_R15}};
    for (auto [unw, greg] : kMap) set(unw, uint64_t(g[greg]));
  }
};

Target& target(void* arg) { return *static_cast<Target*>(arg); }

int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t* pi, int need_unwind_info, void* arg) {
  const ImageFile& img = target(arg).img;
  ElfMapping m;
  EhFrameTable t;
  if (!find_elf_mapping(img, ip, &m) || m.eh_frame_hdr == 0 || !read_eh_frame_table(img, m.eh_frame_hdr, &t))
    return -UNW_ENOINFO;
  // A table in the target's memory, read through access_mem; entries are
  // relative to segbase (the .eh_frame_hdr).
  unw_dyn_info_t di{};
  di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
  di.start_ip = m.text_start;
  di.end_ip = m.text_end;
  di.u.rti.segbase = t.hdr;
  di.u.rti.table_data = t.table;
  di.u.rti.table_len = t.fde_count * 8 / sizeof(unw_word_t);
  return UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need_unwind_info, arg);
}

// libunwind frees what dwarf_search_unwind_table allocated itself.
void put_unwind_info(unw_addr_space_t, unw_proc_info_t*, void*) {}

int get_dyn_info_list_addr(unw_addr_space_t, unw_word_t*, void*) { return -UNW_ENOINFO; }

int access_mem(unw_addr_space_t, unw_word_t addr, unw_word_t* val, int write, void* arg) {
  if (write) return -UNW_EINVAL;
  return target(arg).img.read_memory(addr, val, sizeof *val) ? 0 : -UNW_EINVAL;
}

int access_reg(unw_addr_space_t, unw_regnum_t reg, unw_word_t* val, int write, void* arg) {
  Target& t = target(arg);
  if (write || reg < 0 || reg >= kNumRegs || !t.known[reg]) return -UNW_EBADREG;
  *val = t.regs[reg];
  return 0;
}

int access_fpreg(unw_addr_space_t, unw_regnum_t, unw_fpreg_t*, int, void*) { return -UNW_EBADREG; }
int resume(unw_addr_space_t, unw_cursor_t*, void*) { return -UNW_EINVAL; }
int get_proc_name(unw_addr_space_t, unw_word_t, char*, size_t, unw_word_t*, void*) { return -UNW_ENOINFO; }

// Names addresses, loading each object's symbols once.
class Symbolizer {
 public:
  explicit Symbolizer(const ImageFile& img) : img_(img) {}

  // LOOKUP is the address to attribute: a return address minus one, so that a
  // call at the very end of a function is not attributed to the next one.
  Frame describe(uint64_t ip, uint64_t lookup) {
    Frame f;
    f.ip = ip;
    ElfMapping m;
    if (!find_elf_mapping(img_, lookup, &m)) {
      if (const Vma* v = vma_at(img_.image(), ip)) f.file = v->name;
      return f;
    }
    f.file = m.name;
    if (table(m).lookup(lookup - m.bias, &f.symbol, &f.offset)) f.offset += ip - lookup;
    return f;
  }

 private:
  const SymbolTable& table(const ElfMapping& m) {
    auto it = tables_.find(m.base);
    if (it != tables_.end()) return it->second;
    SymbolTable t;
    int fd = -1;
    if (m.file >= 0 && check_host_file(img_.image().files[m.file], &fd).state == HostFileState::Same) {
      t = SymbolTable::from_file(fd);
      close(fd);
    }
    if (t.empty()) t = SymbolTable::from_memory(img_, m);
    return tables_.emplace(m.base, std::move(t)).first->second;
  }

  const ImageFile& img_;
  std::map<uint64_t, SymbolTable> tables_;
};

}  // namespace

std::vector<Frame> backtrace(const ImageFile& img, const Thread& thread, size_t max_depth) {
  std::vector<Frame> frames;
  Symbolizer names(img);
  if (max_depth == 0) return frames;
  Target t{img};
  t.load(thread);

  unw_accessors_t acc{};
  acc.find_proc_info = find_proc_info;
  acc.put_unwind_info = put_unwind_info;
  acc.get_dyn_info_list_addr = get_dyn_info_list_addr;
  acc.access_mem = access_mem;
  acc.access_reg = access_reg;
  acc.access_fpreg = access_fpreg;
  acc.resume = resume;
  acc.get_proc_name = get_proc_name;
  std::unique_ptr<unw_addr_space, void (*)(unw_addr_space_t)> as(unw_create_addr_space(&acc, 0),
                                                                  unw_destroy_addr_space);
  unw_cursor_t cursor;
  if (!as || unw_init_remote(&cursor, as.get(), &t) < 0) {
    frames.push_back(names.describe(thread.ip, thread.ip));
    return frames;
  }
  unw_word_t prev_ip = 0, prev_sp = 0;
  // Frame 0 holds the next instruction to run, and so does a frame the kernel
  // interrupted (the one above a signal frame); the others a return address.
  bool exact = true;
  for (size_t depth = 0; depth < max_depth; ++depth) {
    unw_word_t ip = 0, sp = 0;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || unw_get_reg(&cursor, UNW_REG_SP, &sp) < 0) break;
    // End of the stack, or a damaged one (going backwards or in circles).
    if (ip == 0 || (depth > 0 && (sp < prev_sp || (sp == prev_sp && ip == prev_ip)))) break;
    // A caller's return address must be in code: anything else is a stack
    // word libunwind guessed at (no unwind info, frame-pointer fallback).
    const Vma* v = vma_at(img.image(), exact ? ip : ip - 1);
    if (depth > 0 && !(v && (v->prot & PROT_EXEC))) break;
    frames.push_back(names.describe(ip, exact ? ip : ip - 1));
    exact = unw_is_signal_frame(&cursor) > 0;
    prev_ip = ip;
    prev_sp = sp;
    if (unw_step(&cursor) <= 0) break;
  }
  if (frames.empty()) frames.push_back(names.describe(thread.ip, thread.ip));
  return frames;
}

std::string format_frame(size_t index, const Frame& f) {
  char buf[64];
  snprintf(buf, sizeof buf, "#%zu 0x%016" PRIx64 " in ", index, f.ip);
  std::string out = buf;
  if (f.symbol.empty()) {
    out += "??";
  } else {
    snprintf(buf, sizeof buf, "+0x%" PRIx64, f.offset);
    out += f.symbol + buf;
  }
  if (!f.file.empty()) out += " (" + f.file + ")";
  return out;
}

}  // namespace vproc::image
