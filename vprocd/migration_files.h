// The files a migrating process needs at the same paths on the target
// (docs/cluster.md, "Files"): checked on the target before the process is
// touched, so that a migration that its restore would refuse is refused
// while the process still runs, unfrozen.
//
// Mapped files (the program, its libraries, other file mappings) are checked
// by identity as a restore checks them (ckpt/host_file.h: the same file, or
// the same size and contents); open regular files must exist there, be
// regular files and be no shorter (a restore reopens them at their offsets).
// Both run on worker threads: they read /proc and hash files.
#pragma once

#include <string>
#include <vector>

#include "image_model.h"
#include "pid_types.h"

namespace vproc::daemon {

struct OpenFile {
  std::string path;
  uint64_t size = 0;
};

struct FilesInUse {
  std::vector<image::MappedFile> mapped;  // path, dev, ino, size, mtime_ns, content_hash
  std::vector<OpenFile> open;
};

// What process `pid` uses now; `mapped_too` false when its privately mapped
// files go into the image (--embed-files). Files that are gone (deleted, or unreadable
// to us) are left out: the checkpoint saves or refuses those itself, and so
// is `table`, the node's shared table, which every node has its own of.
FilesInUse files_in_use(RealPid pid, bool mapped_too, const std::string& table);

// "" if all of them are here as required; else one line per file that is
// not, naming it and why.
std::string check_files_here(const FilesInUse& files);

}  // namespace vproc::daemon
