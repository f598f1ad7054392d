#include "fd_table_restore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cli_context.h"
#include "tool_error.h"

namespace vproc::tools {
namespace {

using image::Fd;
using image::FdKind;

// The saved flags without what would create or change the file, or our own
// close-on-exec. A file made with O_TMPFILE keeps those bits (which include
// O_DIRECTORY) in its flags: dropped too; directory() asks for O_DIRECTORY.
int reopen_flags(uint32_t saved) { return int(saved) & ~(O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC | O_TMPFILE); }

std::string err() { return strerror(errno); }

// Tracks what prepare() opened so a failure closes it all.
struct Preparation {
  const image::ImageFile& img;
  int base;
  bool same_host;
  std::vector<PreparedFd> out;

  [[noreturn]] void fail(const Fd& f, const std::string& why) const {
    discard_fds(out);
    throw ToolError(kExitFailed, "fd " + std::to_string(f.fd) + ": " + why);
  }

  // FD moved above BASE (close-on-exec); the original is closed.
  int high(const Fd& f, int fd) {
    int h = fcntl(fd, F_DUPFD_CLOEXEC, base);
    int e = errno;
    close(fd);
    if (h < 0) fail(f, "cannot duplicate a descriptor: " + std::string(strerror(e)));
    return h;
  }

  int open_path(const Fd& f, const std::string& path, int flags) {
    int fd = open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) fail(f, "cannot reopen " + path + ": " + err());
    return high(f, fd);
  }

  void seek(const Fd& f, int fd, const std::string& path) {
    if (lseek(fd, off_t(f.offset), SEEK_SET) < 0) fail(f, "cannot seek " + path + " to " + std::to_string(f.offset) + ": " + err());
  }

  int regular(const Fd& f) {
    int fd = open_path(f, f.path, reopen_flags(f.flags));
    out.push_back({f.fd, fd, false});  // closed by fail() from here on
    struct stat st;
    if (fstat(fd, &st) != 0) fail(f, "cannot stat " + f.path + ": " + err());
    if (!S_ISREG(st.st_mode)) fail(f, f.path + " is no longer a regular file");
    if (same_host && (uint64_t(st.st_dev) != f.dev || uint64_t(st.st_ino) != f.ino))
      fail(f, f.path + " was replaced since the checkpoint (it is another file now)");
    if (uint64_t(st.st_size) < f.size)
      fail(f, f.path + " is shorter than at the checkpoint (" + std::to_string(st.st_size) + " bytes, was " +
                  std::to_string(f.size) + "): it was truncated or rewritten");
    seek(f, fd, f.path);
    out.pop_back();
    return fd;
  }

  // An unlinked file with the stored contents, opened as the process had it.
  int deleted(const Fd& f) {
    if (f.blob < 0 || size_t(f.blob) >= img.image().blobs.size())
      fail(f, "the contents of the deleted file " + f.path + " are not in the image");
    std::string data = img.read_blob(img.image().blobs[size_t(f.blob)]);
    std::string path = f.path;
    const std::string suffix = " (deleted)";
    if (path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
      path.resize(path.size() - suffix.size());
    std::string dir = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
    int tmp = open(dir.empty() ? "/" : dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (tmp < 0) tmp = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (tmp < 0) {
      char name[] = "/tmp/vproc-restore-XXXXXX";
      tmp = mkostemp(name, O_CLOEXEC);
      if (tmp >= 0) unlink(name);
    }
    if (tmp < 0) fail(f, "cannot create a file for the deleted " + path + ": " + err());
    for (size_t done = 0; done < data.size();) {
      ssize_t n = write(tmp, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        std::string e = err();
        close(tmp);
        fail(f, "cannot write the contents of the deleted " + path + ": " + e);
      }
      done += size_t(n);
    }
    // Reopening through /proc gives the saved access mode and status flags.
    int fd = open(("/proc/self/fd/" + std::to_string(tmp)).c_str(), reopen_flags(f.flags) | O_CLOEXEC);
    std::string e = err();
    close(tmp);
    if (fd < 0) fail(f, "cannot reopen the recreated " + path + ": " + e);
    fd = high(f, fd);
    out.push_back({f.fd, fd, false});
    seek(f, fd, path);
    out.pop_back();
    return fd;
  }

  int directory(const Fd& f) {
    int fd = open_path(f, f.path, reopen_flags(f.flags) | O_DIRECTORY);
    struct stat st;
    if (same_host && fstat(fd, &st) == 0 && (uint64_t(st.st_dev) != f.dev || uint64_t(st.st_ino) != f.ino)) {
      close(fd);
      fail(f, f.path + " was replaced since the checkpoint (it is another directory now)");
    }
    lseek(fd, off_t(f.offset), SEEK_SET);  // a readdir cookie: best effort
    return fd;
  }

  int terminal(const Fd& f) {
    for (int i = 0; i <= 2; ++i)
      if (isatty(i)) {
        int fd = fcntl(i, F_DUPFD_CLOEXEC, base);
        if (fd >= 0) return fd;
      }
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) fail(f, "it was a terminal (" + f.path + "); run 'vproc restore' from a terminal");
    return high(f, fd);
  }

  // The tool's own fd 0-2 stays: it must exist and not be close-on-exec.
  void keep(const Fd& f) {
    int flags = fcntl(f.fd, F_GETFD);
    if (flags < 0) fail(f, "the process had a standard stream there, and 'vproc restore' has none to give it");
    out.push_back({f.fd, -1, (f.flags & O_CLOEXEC) != 0});
  }

  int same_as(const Fd& f) {
    for (const PreparedFd& p : out)
      if (p.target == f.same_as) {
        int fd = fcntl(p.temp >= 0 ? p.temp : p.target, F_DUPFD_CLOEXEC, base);
        if (fd < 0) fail(f, "cannot duplicate fd " + std::to_string(f.same_as) + ": " + err());
        return fd;
      }
    fail(f, "it shares its file with fd " + std::to_string(f.same_as) + ", which the image does not restore");
  }

  void one(const Fd& f) {
    if (f.fd < 0 || f.fd >= base) fail(f, "descriptor number out of range");
    // The restoring command's own stdio, even where the process had fd 2 a
    // duplicate of fd 1: what the user gave this command is what they want.
    if (f.fd <= 2 && (f.kind == FdKind::Stdio || f.kind == FdKind::Tty)) return keep(f);
    if (f.same_as >= 0) {
      out.push_back({f.fd, same_as(f), (f.flags & O_CLOEXEC) != 0});
      return;
    }
    int fd = -1;
    switch (f.kind) {
      case FdKind::Regular: fd = regular(f); break;
      case FdKind::Deleted: fd = deleted(f); break;
      case FdKind::Directory: fd = directory(f); break;
      case FdKind::DevNull: fd = open_path(f, "/dev/null", reopen_flags(f.flags)); break;
      case FdKind::DevZero: fd = open_path(f, "/dev/zero", reopen_flags(f.flags)); break;
      case FdKind::DevUrandom: fd = open_path(f, "/dev/urandom", reopen_flags(f.flags)); break;
      case FdKind::DevRandom: fd = open_path(f, "/dev/random", reopen_flags(f.flags)); break;
      case FdKind::Tty:
        fd = terminal(f);
        break;
      case FdKind::Stdio:
        fail(f, "a pipe or socket can only be restored as fd 0, 1 or 2");
    }
    out.push_back({f.fd, fd, (f.flags & O_CLOEXEC) != 0});
  }
};

}  // namespace

std::vector<PreparedFd> prepare_fds(const image::ImageFile& img, int temp_base) {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  Preparation p{img, temp_base, img.image().process.hostname == host, {}};
  // Lower numbers first: a sameAs names a lower descriptor.
  std::vector<const Fd*> order;
  for (const Fd& f : img.image().fds) order.push_back(&f);
  std::sort(order.begin(), order.end(), [](const Fd* a, const Fd* b) { return a->fd < b->fd; });
  for (const Fd* f : order) p.one(*f);
  return p.out;
}

void install_fds(const std::vector<PreparedFd>& fds) {
  for (const PreparedFd& p : fds) {
    if (p.temp < 0) {
      fcntl(p.target, F_SETFD, 0);
      continue;
    }
    if (dup2(p.temp, p.target) < 0)
      throw ToolError(kExitFailed, "cannot place fd " + std::to_string(p.target) + ": " + err());
    close(p.temp);
  }
}

void discard_fds(const std::vector<PreparedFd>& fds) {
  for (const PreparedFd& p : fds)
    if (p.temp >= 0) close(p.temp);
}

}  // namespace vproc::tools
