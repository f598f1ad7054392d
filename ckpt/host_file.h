// Is a file the image references still on this host, unchanged? Used to read
// unstored file-backed pages (read_memory), by `vproc inspect`, and by restore.
#pragma once

#include <cstdint>
#include <string>

#include "image_model.h"

namespace vproc::image {

enum class HostFileState { Same, Missing, Changed };

struct HostFileCheck {
  HostFileState state = HostFileState::Missing;
  std::string why;  // for Missing/Changed: e.g. "No such file or directory", "size 10, image has 12"
};

// Compares the file at F.path with what the image recorded. The very same file
// (device, inode, size, mtime) is Same without reading it; otherwise (a copy on
// another host, or touched) the size must match and the XXH3-64 of the whole
// contents must equal F.content_hash. With FD_OUT, a Same file is left open
// there (read-only, O_CLOEXEC; the caller closes it), else *FD_OUT = -1.
HostFileCheck check_host_file(const MappedFile& f, int* fd_out = nullptr);

const char* to_string(HostFileState s);  // "ok", "missing", "changed"

// XXH3-64 of SIZE bytes at OFFSET of FD, read in large blocks. False on a read
// error or a short file.
bool hash_file_range(int fd, uint64_t offset, uint64_t size, uint64_t* out);

}  // namespace vproc::image
