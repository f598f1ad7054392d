#include "fd_table_restore.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
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

// A pipe made for the image's fds of one pipe inode: its two ends (above the
// base), given to the first read and the first write descriptor.
struct MadePipe {
  uint64_t dev = 0, ino = 0;
  int ends[2] = {-1, -1};
  bool given[2] = {false, false};
};

// Tracks what prepare() opened so a failure closes it all.
struct Preparation {
  const image::ImageFile& img;
  int base;
  bool same_host;
  std::vector<PreparedFd> out;
  std::vector<MadePipe> pipes;

  [[noreturn]] void fail(const Fd& f, const std::string& why) { fail(f.fd, why); }
  [[noreturn]] void fail(int fd, const std::string& why) {
    discard_fds(out);
    close_pipes();
    throw ToolError(kExitFailed, "fd " + std::to_string(fd) + ": " + why);
  }

  // F's stored bytes (a deleted file's contents, a pipe's buffer).
  std::string blob(const Fd& f) {
    try {
      return img.read_blob(img.image().blobs[size_t(f.blob)]);
    } catch (const image::ImageError& e) {
      fail(f, e.what());
    }
  }

  // The pipes' own ends: what was handed out is a duplicate.
  void close_pipes() {
    for (MadePipe& p : pipes)
      for (int& e : p.ends)
        if (e >= 0) close(e), e = -1;
  }

  // A new pipe with the saved size and buffered bytes.
  MadePipe& make_pipe(const Fd& f) {
    int ends[2];
    if (pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) fail(f, "cannot make a pipe: " + err());
    pipes.push_back(MadePipe{f.dev, f.ino, {-1, -1}, {false, false}});
    MadePipe& p = pipes.back();
    p.ends[0] = ends[0];  // closed by fail() from here on
    p.ends[1] = ends[1];
    for (int& e : p.ends) {
      int fd = e;
      e = -1;
      e = high(f, fd);
    }
    if (f.pipe_size > 0 && fcntl(p.ends[1], F_SETPIPE_SZ, int(f.pipe_size)) < 0)
      fail(f, "cannot give the pipe its size of " + std::to_string(f.pipe_size) + " bytes: " + err());
    if (f.blob < 0) return p;
    if (size_t(f.blob) >= img.image().blobs.size()) fail(f, "the bytes buffered in the pipe are not in the image");
    std::string data = blob(f);
    for (size_t done = 0; done < data.size();) {
      ssize_t n = write(p.ends[1], data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        fail(f, "cannot put back the " + std::to_string(data.size()) + " bytes buffered in the pipe: " + err());
      done += size_t(n);
    }
    return p;
  }

  // One descriptor of a pipe: the pipe's own end for the first reader and
  // the first writer (pipe() gives one description each), a new description
  // of the same pipe for each further one (the process had opened
  // /proc/PID/fd/N again, or opened it O_RDWR).
  int pipe_end(const Fd& f) {
    MadePipe* p = nullptr;
    for (MadePipe& m : pipes)
      if (m.dev == f.dev && m.ino == f.ino) p = &m;
    if (!p) p = &make_pipe(f);
    int mode = int(f.flags) & O_ACCMODE;
    int end = mode == O_RDONLY ? 0 : mode == O_WRONLY ? 1 : -1;
    int fd;
    if (end >= 0 && !p->given[end]) {
      p->given[end] = true;
      fd = fcntl(p->ends[end], F_DUPFD_CLOEXEC, base);
      if (fd < 0) fail(f, "cannot duplicate a descriptor: " + err());
    } else {
      fd = open_path(f, "/proc/self/fd/" + std::to_string(p->ends[0]), mode);
    }
    return status_flags(f, fd);
  }

  // O_NONBLOCK as the process had it (the description's, so for all its fds).
  int status_flags(const Fd& f, int fd) {
    if (fcntl(fd, F_SETFL, int(f.flags) & O_NONBLOCK) != 0) {
      std::string e = err();
      close(fd);
      fail(f, "cannot set its flags: " + e);
    }
    return fd;
  }

  int event_fd(const Fd& f) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | (f.eventfd_semaphore ? EFD_SEMAPHORE : 0));
    if (fd < 0) fail(f, "cannot make an eventfd: " + err());
    fd = high(f, fd);
    // Its counter: written, as eventfd() takes only 32 bits of it.
    if (f.eventfd_count != 0 && write(fd, &f.eventfd_count, sizeof f.eventfd_count) != sizeof f.eventfd_count) {
      std::string e = err();
      close(fd);
      fail(f, "cannot set the eventfd's counter to " + std::to_string(f.eventfd_count) + ": " + e);
    }
    return status_flags(f, fd);
  }

  int epoll(const Fd& f) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) fail(f, "cannot make an epoll instance: " + err());
    return status_flags(f, high(f, fd));
  }

  // Whether every watched descriptor can be watched (a restoring command's
  // stdin that is a regular file cannot), tried on an instance of our own:
  // install() adds the real registrations once the numbers are in place.
  void check_watches() {
    std::map<int, int> now;  // the process's number -> where that fd is now
    const PreparedFd* first = nullptr;
    for (const PreparedFd& p : out) {
      now[p.target] = p.temp >= 0 ? p.temp : p.target;
      if (!first && !p.watches.empty()) first = &p;
    }
    if (!first) return;
    int probe = epoll_create1(EPOLL_CLOEXEC);
    if (probe < 0) fail(first->target, "cannot make an epoll instance: " + err());
    for (const PreparedFd& e : out)
      for (const image::EpollWatch& w : e.watches) {
        auto t = now.find(w.fd);
        struct epoll_event ev {};
        if (t != now.end() && (epoll_ctl(probe, EPOLL_CTL_ADD, t->second, &ev) == 0 || errno == EEXIST)) continue;
        std::string why = t == now.end() ? "the image does not restore it" : err();
        close(probe);
        fail(e.target, "the epoll instance watches fd " + std::to_string(w.fd) +
                           ", which cannot be watched after the restore: " + why);
      }
    close(probe);
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
    std::string data = blob(f);
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
      case FdKind::Pipe: fd = pipe_end(f); break;
      case FdKind::Eventfd: fd = event_fd(f); break;
      case FdKind::Epoll: fd = epoll(f); break;
    }
    out.push_back({f.fd, fd, (f.flags & O_CLOEXEC) != 0, f.epoll_watches});
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
  p.check_watches();
  p.close_pipes();
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
  // A registration is keyed by the file and the fd number it was added with:
  // added by the numbers the process knows them by.
  for (const PreparedFd& p : fds)
    for (const image::EpollWatch& w : p.watches) {
      struct epoll_event ev {};
      ev.events = w.events;
      ev.data.u64 = w.data;
      if (epoll_ctl(p.target, EPOLL_CTL_ADD, w.fd, &ev) != 0)
        throw ToolError(kExitFailed, "fd " + std::to_string(p.target) + ": cannot watch fd " + std::to_string(w.fd) +
                                         " again: " + err());
    }
}

void discard_fds(const std::vector<PreparedFd>& fds) {
  for (const PreparedFd& p : fds)
    if (p.temp >= 0) close(p.temp);
}

}  // namespace vproc::tools
