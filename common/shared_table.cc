#include "shared_table.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "raw_syscall.h"

namespace vproc {

const void* map_table_readonly(const char* path) {
  long fd = raw::sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (raw::failed(fd)) return nullptr;
  struct stat st;
  long r = raw::sys(SYS_fstat, fd, &st);
  void* base = nullptr;
  if (!raw::failed(r) && size_t(st.st_size) == kTableBytes) {
    long m = raw::sys(SYS_mmap, 0, kTableBytes, PROT_READ, MAP_SHARED, fd, 0);
    if (!raw::failed(m)) base = reinterpret_cast<void*>(m);
  }
  raw::sys(SYS_close, fd);
  if (!base) return nullptr;
  auto* h = static_cast<const TableHeader*>(base);
  if (h->magic != kTableMagic || h->version != kTableVersion) {
    raw::sys(SYS_munmap, base, kTableBytes);
    return nullptr;
  }
  return base;
}

}  // namespace vproc
