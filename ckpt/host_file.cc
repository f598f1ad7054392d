#include "host_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace vproc::image {

bool hash_file_range(int fd, uint64_t offset, uint64_t size, uint64_t* out) {
  constexpr size_t kBlock = 1 << 20;
  thread_local std::unique_ptr<char[]> buf(new char[kBlock]);  // verify_data hashes thousands of chunks
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> st(XXH3_createState(), XXH3_freeState);
  if (!st || XXH3_64bits_reset(st.get()) != XXH_OK) return false;
  while (size > 0) {
    size_t want = size < kBlock ? size_t(size) : kBlock;
    ssize_t n = pread(fd, buf.get(), want, off_t(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    XXH3_64bits_update(st.get(), buf.get(), size_t(n));
    offset += uint64_t(n);
    size -= uint64_t(n);
  }
  *out = XXH3_64bits_digest(st.get());
  return true;
}

HostFileCheck check_host_file(const MappedFile& f, int* fd_out) {
  if (fd_out) *fd_out = -1;
  HostFileCheck r;
  int fd = open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.why = strerror(errno);
    return r;
  }
  struct stat st;
  r.state = HostFileState::Changed;
  if (fstat(fd, &st) != 0) {
    r.why = strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    r.why = "not a regular file";
  } else if (uint64_t(st.st_size) != f.size) {
    r.why = "size " + std::to_string(st.st_size) + ", image has " + std::to_string(f.size);
  } else {
    int64_t mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    uint64_t h = 0;
    if (uint64_t(st.st_dev) == f.dev && uint64_t(st.st_ino) == f.ino && mtime_ns == f.mtime_ns)
      r.state = HostFileState::Same;
    else if (!hash_file_range(fd, 0, f.size, &h))
      r.why = "cannot read it";
    else if (h != f.content_hash)
      r.why = "contents differ";
    else
      r.state = HostFileState::Same;
  }
  if (r.state == HostFileState::Same && fd_out)
    *fd_out = fd;
  else
    close(fd);
  return r;
}

const char* to_string(HostFileState s) {
  switch (s) {
    case HostFileState::Same: return "ok";
    case HostFileState::Missing: return "missing";
    case HostFileState::Changed: return "changed";
  }
  return "?";
}

}  // namespace vproc::image
