#include "spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "strf.h"

namespace vproc::daemon {
namespace {

constexpr const char kPrefix[] = "mig-";

// Removes the files directly inside `dir`, then `dir` (one level: the spool
// makes nothing deeper).
void remove_dir_files(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
  }
  rmdir(dir.c_str());
}

}  // namespace

std::string Spool::dir_for(const std::string& socket_path) {
  size_t slash = socket_path.rfind('/');
  std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : socket_path.substr(0, slash);
  return parent == "/" ? "/spool" : parent + "/spool";
}

Status Spool::open(const std::string& dir) {
  if (mkdir(dir.c_str(), 0711) != 0 && errno != EEXIST)
    return Status::failure(errno, strf("cannot create the spool directory %s: %s", dir.c_str(), strerror(errno)));
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0)
    return Status::failure(errno, strf("spool directory %s: %s", dir.c_str(), strerror(errno)));
  if (!S_ISDIR(st.st_mode)) return Status::failure(ENOTDIR, strf("spool %s is not a directory", dir.c_str()));
  if (st.st_uid != geteuid())
    return Status::failure(EPERM, strf("spool directory %s belongs to uid %u, not to this daemon's user (%u)",
                                       dir.c_str(), unsigned(st.st_uid), unsigned(geteuid())));
  if ((st.st_mode & 07777) != 0711 && chmod(dir.c_str(), 0711) != 0)
    return Status::failure(errno, strf("cannot set spool directory %s to mode 0711: %s", dir.c_str(), strerror(errno)));
  dir_ = dir;
  return Status::success();
}

// Migration ids are written in hex, as the daemon's log shows them.
std::string Spool::image_path(uint64_t migration) const {
  return strf("%s/%s%" PRIx64 ".vpimg", dir_.c_str(), kPrefix, migration);
}

std::string Spool::user_dir_path(uint64_t migration) const {
  return strf("%s/%s%" PRIx64 ".d", dir_.c_str(), kPrefix, migration);
}

size_t Spool::remove_stale() const {
  DIR* d = opendir(dir_.c_str());
  if (!d) return 0;
  size_t removed = 0;
  while (dirent* e = readdir(d)) {
    if (strncmp(e->d_name, kPrefix, sizeof kPrefix - 1) != 0) continue;
    if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
      ++removed;
    } else if (errno == EISDIR) {
      remove_dir_files(dir_ + "/" + e->d_name);
      ++removed;
    }
  }
  closedir(d);
  return removed;
}

Status Spool::free_bytes(uint64_t& out) const {
  struct statvfs vfs;
  if (statvfs(dir_.c_str(), &vfs) != 0)
    return Status::failure(errno, strf("statvfs %s: %s", dir_.c_str(), strerror(errno)));
  out = uint64_t(vfs.f_bavail) * vfs.f_frsize;
  return Status::success();
}

Status Spool::make_user_dir(uint64_t migration, uint32_t uid, uint32_t gid, std::string& out) const {
  out = user_dir_path(migration);
  if (mkdir(out.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::failure(errno, strf("mkdir %s: %s", out.c_str(), strerror(errno)));
  // lchown: never follow a link, whatever is found under that name.
  if (geteuid() == 0 && lchown(out.c_str(), uid, gid) != 0)
    return Status::failure(errno, strf("chown %s: %s", out.c_str(), strerror(errno)));
  return Status::success();
}

void Spool::remove_image(uint64_t migration) const { unlink(image_path(migration).c_str()); }

void Spool::remove_migration(uint64_t migration) const {
  remove_dir_files(user_dir_path(migration));
  remove_image(migration);
}

}  // namespace vproc::daemon
