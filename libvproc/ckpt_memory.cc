// The snapshot's memory: which mappings are saved how, and which pages are
// stored (PITFALLS 4, 20, 21).
//
// Per page, /proc/self/pagemap says present (bit 63), swapped (62) and whether a
// present page is still the file's page-cache page (61). Private anonymous
// memory stores present or swapped pages that are not all zero. A private file
// mapping stores only the pages that were copied on write (present without bit
// 61, or swapped); the rest is the file, referenced by identity. Mappings whose
// file changed or was deleted, mappings of an earlier image (lazy restore) and
// --embed-files mappings store every non-zero page.
#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cstring>

#include "ckpt_records.h"
#include "image_header.h"
#include "raw_syscall.h"

namespace vproc::lib {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kPresent = 1ull << 63, kSwapped = 1ull << 62, kFilePage = 1ull << 61;

bool starts_with(const char* s, const char* p) {
  while (*p)
    if (*s++ != *p++) return false;
  return true;
}
bool ends_with(const char* s, const char* suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool page_is_zero(const void* p) {
  const uint64_t* w = static_cast<const uint64_t*>(p);
  for (size_t i = 0; i < kPage / 8; i += 8) {
    uint64_t x = w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7];
    if (x) return false;
  }
  return true;
}

enum class Store { Nothing, Dirty, Copied, All };

struct Scanner {
  ImageOut& out;
  int pagemap;
  uint64_t* entries;  // one batch of pagemap entries
  static constexpr size_t kBatch = 4096;
  uint64_t run_start = 0;
  uint32_t run_pages = 0;
  int err = 0;

  bool flush() {
    if (!run_pages) return true;
    if (out.chunk_count == out.chunk_cap) {
      err = ENOMEM;
      return false;
    }
    size_t len = size_t(run_pages) * kPage;
    const void* p = reinterpret_cast<const void*>(run_start);
    ChunkRec& c = out.chunks[out.chunk_count++];
    c.start = run_start;
    c.pages = run_pages;
    c.offset = out.pos;
    c.hash = hash_bytes(p, len);
    run_pages = 0;
    out.data_bytes += len;
    return out_write(out, p, len, &err);
  }

  bool add(uint64_t addr) {
    if (run_pages && (run_start + uint64_t(run_pages) * kPage != addr ||
                      run_pages == image::kMaxChunkPages) && !flush())
      return false;
    if (!run_pages) run_start = addr;
    ++run_pages;
    return true;
  }

  bool scan(uint64_t start, uint64_t end, Store how) {
    for (uint64_t a = start; a < end;) {
      size_t n = size_t((end - a) / kPage);
      if (n > kBatch) n = kBatch;
      long r = raw::sys(SYS_pread64, pagemap, entries, n * 8, (a / kPage) * 8);
      if (r != long(n * 8)) {
        err = r < 0 ? int(-r) : EIO;
        return false;
      }
      for (size_t i = 0; i < n; ++i, a += kPage) {
        uint64_t e = entries[i];
        bool want;
        switch (how) {
          case Store::Dirty: want = (e & (kPresent | kSwapped)) && !page_is_zero(reinterpret_cast<void*>(a)); break;
          case Store::Copied: want = ((e & kPresent) && !(e & kFilePage)) || (e & kSwapped); break;
          case Store::All: want = !page_is_zero(reinterpret_cast<void*>(a)); break;
          default: want = false;
        }
        if (want ? !add(a) : !flush()) return false;
      }
    }
    return flush();
  }
};

// Identity of a mapped file (build-id, content hash) for the restore check.
void read_build_id(int fd, FileRec& f) {
  unsigned char eh[64];
  if (raw::sys(SYS_pread64, fd, eh, sizeof eh, 0) != long(sizeof eh)) return;
  if (memcmp(eh, "\x7f" "ELF", 4) != 0 || eh[4] != 2) return;  // 64-bit ELF only
  uint64_t phoff;
  uint16_t phentsize, phnum;
  memcpy(&phoff, eh + 32, 8);
  memcpy(&phentsize, eh + 54, 2);
  memcpy(&phnum, eh + 56, 2);
  if (phentsize != 56 || phnum > 64) return;
  unsigned char ph[56 * 64];
  if (raw::sys(SYS_pread64, fd, ph, size_t(phnum) * 56, phoff) != long(phnum) * 56) return;
  for (int i = 0; i < phnum; ++i) {
    uint32_t type;
    uint64_t off, size;
    memcpy(&type, ph + i * 56, 4);
    memcpy(&off, ph + i * 56 + 8, 8);
    memcpy(&size, ph + i * 56 + 32, 8);
    if (type != 4 /* PT_NOTE */ || size > 4096) continue;
    unsigned char notes[4096];
    if (raw::sys(SYS_pread64, fd, notes, size, off) != long(size)) continue;
    for (uint64_t p = 0; p + 12 <= size;) {
      uint32_t namesz, descsz, ntype;
      memcpy(&namesz, notes + p, 4);
      memcpy(&descsz, notes + p + 4, 4);
      memcpy(&ntype, notes + p + 8, 4);
      uint64_t name_at = p + 12, desc_at = name_at + ((namesz + 3) & ~3u);
      if (desc_at + descsz > size) break;
      if (ntype == 3 && namesz == 4 && memcmp(notes + name_at, "GNU", 4) == 0 && descsz <= sizeof f.build_id) {
        memcpy(f.build_id, notes + desc_at, descsz);
        f.build_id_len = descsz;
        return;
      }
      p = desc_at + ((descsz + 3) & ~3u);
    }
  }
}

constexpr uint64_t kMaxHashedFile = 512ull << 20;

// Adds (or finds) the file of a mapping; -1 if it is not the mapped one any more.
int file_index(ImageOut& out, const MapEntry& e) {
  for (int i = 0; i < out.file_count; ++i)
    if (out.files[i].dev == e.dev && out.files[i].ino == e.ino) return i;
  struct stat st;
  long fd = raw::sys(SYS_openat, AT_FDCWD, e.name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (raw::sys(SYS_fstat, fd, &st) != 0 || st.st_dev != e.dev || st.st_ino != e.ino || !S_ISREG(st.st_mode)) {
    raw::sys(SYS_close, fd);
    return -1;
  }
  FileRec& f = out.files[out.file_count];
  memset(&f, 0, sizeof f);
  f.path = e.name;
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  f.size = uint64_t(st.st_size);
  f.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  f.embedded = out.embed_files;
  read_build_id(int(fd), f);
  if (f.size && f.size <= kMaxHashedFile) {
    long m = raw::sys(SYS_mmap, 0, f.size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (!raw::failed(m)) {
      f.content_hash = hash_bytes(reinterpret_cast<void*>(m), f.size);
      raw::sys(SYS_munmap, m, f.size);
    }
  }
  raw::sys(SYS_close, fd);
  return out.file_count++;
}

void hex_addr(char* buf, uint64_t v) {
  static const char d[] = "0123456789abcdef";
  char tmp[17];
  int n = 0;
  do tmp[n++] = d[v & 15];
  while (v >>= 4);
  buf[0] = '0';
  buf[1] = 'x';
  for (int i = 0; i < n; ++i) buf[2 + i] = tmp[n - 1 - i];
  buf[2 + n] = 0;
}

void refuse_mapping(ImageOut& out, const MapEntry& e, const char* why) {
  char a[24], b[24], range[64];
  hex_addr(a, e.start);
  hex_addr(b, e.end);
  size_t la = strlen(a);
  memcpy(range, a, la);
  range[la] = '-';
  memcpy(range + la + 1, b, strlen(b) + 1);
  out.refusals.add("mapping ", range, e.name[0] ? e.name : "(anonymous)", why);
}

}  // namespace

int capture_memory(Scratch& s, const MapList& maps, ImageOut& out, const uint64_t (*skip)[2], int skip_count) {
  out.vmas = s.take_array<VmaRec>(size_t(maps.count));
  out.files = s.take_array<FileRec>(size_t(maps.count));
  uint64_t pages = 0;
  for (int i = 0; i < maps.count; ++i)
    if (maps.entries[i].prot) pages += (maps.entries[i].end - maps.entries[i].start) / kPage;
  out.chunk_cap = size_t(pages / 2 + 1024);
  out.chunks = s.take_array<ChunkRec>(out.chunk_cap);
  uint64_t* batch = s.take_array<uint64_t>(Scanner::kBatch);
  if (!out.vmas || !out.files || !out.chunks || !batch) return -ENOMEM;
  long pm = raw::sys(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pm < 0) return int(pm);
  Scanner sc{out, int(pm), batch};

  for (int i = 0; i < maps.count; ++i) {
    const MapEntry& e = maps.entries[i];
    bool ours = false;
    for (int k = 0; k < skip_count; ++k) ours |= e.end > skip[k][0] && e.start < skip[k][1];
    if (ours) continue;  // the shared table, this writer's scratch memory
    const char* n = e.name;
    if (!strcmp(n, "[vsyscall]")) continue;
    if (!strcmp(n, "[vvar]")) { out.special.vvar_start = e.start; out.special.vvar_end = e.end; continue; }
    if (!strcmp(n, "[vvar_vclock]")) { out.special.vclock_start = e.start; out.special.vclock_end = e.end; continue; }
    if (!strcmp(n, "[vdso]")) {
      out.special.vdso_start = e.start;
      out.special.vdso_end = e.end;
      out.special.vdso_hash = hash_bytes(reinterpret_cast<void*>(e.start), e.end - e.start);
      continue;
    }
    VmaRec& v = out.vmas[out.vma_count];
    v = VmaRec{e.start, e.end, e.prot, e.shared, VmaKind::Anonymous, -1, 0, n};
    bool file_backed = e.ino != 0 && n[0] == '/';
    Store how = Store::Dirty;
    if (e.shared) {
      if (!file_backed || ends_with(n, " (deleted)") || starts_with(n, "/dev/")) {
        refuse_mapping(out, e, ": shared memory (not saved yet)");
        continue;
      }
      if (e.prot & PROT_WRITE) {
        refuse_mapping(out, e, ": writable shared file mapping (not saved yet)");
        continue;
      }
      int f = file_index(out, e);
      if (f < 0) {
        refuse_mapping(out, e, ": shared mapping of a file that changed since it was mapped");
        continue;
      }
      v.kind = VmaKind::SharedFile;
      v.file = f;
      v.file_offset = e.offset;
      how = Store::Nothing;
    } else if (file_backed && starts_with(n, "/dev/")) {
      if (strcmp(n, "/dev/zero") != 0) {
        refuse_mapping(out, e, ": device mapping (not saved)");
        continue;
      }
    } else if (file_backed && e.dev == out.image_dev && e.ino == out.image_ino) {
      how = Store::All;  // a lazily restored image: the memory is ours now
    } else if (file_backed) {
      int f = ends_with(n, " (deleted)") ? -1 : file_index(out, e);
      if (f < 0) {
        how = Store::All;  // the file is gone or replaced: keep what we see
      } else {
        v.kind = VmaKind::File;
        v.file = f;
        v.file_offset = e.offset;
        how = out.embed_files ? Store::All : Store::Copied;
      }
    } else if (!strcmp(n, "[heap]")) {
      v.kind = VmaKind::Heap;
    } else if (!strcmp(n, "[stack]")) {
      v.kind = VmaKind::Stack;
    } else if (e.prot == 0) {
      v.kind = VmaKind::Reserved;
    }
    ++out.vma_count;
    if (how == Store::Nothing) continue;
    // This is a copy of the process: we may make its memory readable to read it.
    if (!(e.prot & PROT_READ)) raw::sys(SYS_mprotect, e.start, e.end - e.start, e.prot | PROT_READ);
    if (!sc.scan(e.start, e.end, how)) break;
  }
  raw::sys(SYS_close, pm);
  return sc.err ? -sc.err : 0;
}

}  // namespace vproc::lib
