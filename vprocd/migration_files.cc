#include "migration_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "host_file.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

// The paths of /proc/PID/maps' file mappings (the column after the inode),
// without pseudo files ("[heap]") and deleted ones; only the shared ones
// (which even an image with embedded files maps from the file) if `shared_only`.
std::set<std::string> mapped_paths(RealPid pid, bool shared_only) {
  std::set<std::string> paths;
  std::ifstream maps(strf("/proc/%u/maps", pid.value));
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, path;
    in >> range >> perms >> offset >> dev >> inode;
    std::getline(in >> std::ws, path);
    if (path.empty() || path[0] != '/' || inode == "0") continue;
    if (shared_only && (perms.size() < 4 || perms[3] != 's')) continue;
    if (path.size() > 10 && path.compare(path.size() - 10, 10, " (deleted)") == 0) continue;
    paths.insert(path);
  }
  return paths;
}

uint64_t mtime_ns(const struct stat& st) { return uint64_t(st.st_mtim.tv_sec) * 1000000000ull + uint64_t(st.st_mtim.tv_nsec); }

}  // namespace

FilesInUse files_in_use(RealPid pid, bool mapped_too, const std::string& table) {
  FilesInUse out;
  {
    for (const std::string& path : mapped_paths(pid, !mapped_too)) {
      if (path == table) continue;
      // Through the process's own view of the file system (its mount
      // namespace and root), where the path means what it means to it.
      std::string via = strf("/proc/%u/root%s", pid.value, path.c_str());
      int fd = open(via.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      struct stat st;
      image::MappedFile f;
      if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
          image::hash_file_range(fd, 0, uint64_t(st.st_size), &f.content_hash)) {
        f.path = path;
        f.dev = uint64_t(st.st_dev);
        f.ino = uint64_t(st.st_ino);
        f.size = uint64_t(st.st_size);
        f.mtime_ns = int64_t(mtime_ns(st));
        out.mapped.push_back(std::move(f));
      }
      close(fd);
    }
  }
  std::string dir = strf("/proc/%u/fd", pid.value);
  if (DIR* d = opendir(dir.c_str())) {
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string link = dir + "/" + e->d_name;
      struct stat st;
      char target[4096];
      ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
      if (n <= 0 || stat(link.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink == 0) continue;
      target[n] = 0;
      // Kernel files (/proc/self/maps that the library itself reads for a
      // moment, say) are not files of the file system a restore reopens.
      if (target[0] != '/' || strncmp(target, "/proc/", 6) == 0 || strncmp(target, "/sys/", 5) == 0 ||
          strncmp(target, "/dev/", 5) == 0)
        continue;
      out.open.push_back({target, uint64_t(st.st_size)});
    }
    closedir(d);
  }
  return out;
}

std::string check_files_here(const FilesInUse& files) {
  std::string problems;
  for (const image::MappedFile& f : files.mapped) {
    image::HostFileCheck c = image::check_host_file(f);
    if (c.state == image::HostFileState::Same) continue;
    problems += strf("  %s: %s (%s)\n", f.path.c_str(),
                     c.state == image::HostFileState::Missing ? "missing" : "not the same file", c.why.c_str());
  }
  for (const OpenFile& f : files.open) {
    struct stat st;
    if (stat(f.path.c_str(), &st) != 0)
      problems += strf("  %s (open file): missing (%s)\n", f.path.c_str(), strerror(errno));
    else if (!S_ISREG(st.st_mode))
      problems += strf("  %s (open file): not a regular file here\n", f.path.c_str());
    else if (uint64_t(st.st_size) < f.size)
      problems += strf("  %s (open file): %llu bytes here, %llu at the source\n", f.path.c_str(),
                       (unsigned long long)st.st_size, (unsigned long long)f.size);
  }
  return problems;
}

}  // namespace vproc::daemon
