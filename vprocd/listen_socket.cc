#include "listen_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "strf.h"

namespace vproc::daemon {
namespace {

bool fill_addr(const std::string& path, sockaddr_un& addr) {
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return false;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

// mkdir -p with mode 0755 for every missing component.
Status make_dirs(const std::string& dir) {
  if (dir.empty()) return Status::success();
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Status::failure(ENOTDIR, strf("%s is not a directory", dir.c_str()));
    return Status::success();
  }
  size_t slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    Status s = make_dirs(dir.substr(0, slash));
    if (!s.ok()) return s;
  }
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    int e = errno;
    return Status::failure(e, strf("cannot create directory %s: %s", dir.c_str(), strerror(e)));
  }
  // The umask must not make the socket's directory unreachable for other users.
  if (chmod(dir.c_str(), 0755) != 0 && errno != EPERM) {
    int e = errno;
    return Status::failure(e, strf("cannot chmod directory %s: %s", dir.c_str(), strerror(e)));
  }
  return Status::success();
}

}  // namespace

int live_daemon_pid(const std::string& socket_path) {
  sockaddr_un addr;
  if (!fill_addr(socket_path, addr)) return 0;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  int pid = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    pid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : -1;
  }
  close(fd);
  return pid;
}

ListenSocket::~ListenSocket() {
  if (fd_ >= 0) close(fd_);
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the lock
}

Status ListenSocket::claim(const std::string& socket_path) {
  path_ = socket_path;
  lock_path_ = socket_path + ".lock";
  size_t slash = socket_path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : socket_path.substr(0, slash);
  Status s = make_dirs(dir);
  if (!s.ok()) return s;
  struct stat dst;
  if (stat(dir.c_str(), &dst) == 0 && dst.st_uid != 0 && dst.st_uid != geteuid() && (dst.st_mode & 022))
    return Status::failure(EPERM, strf("socket directory %s belongs to uid %u and others can write to it; "
                                       "refusing to use it",
                                       dir.c_str(), unsigned(dst.st_uid)));

  lock_fd_ = open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    int e = errno;
    return Status::failure(e, strf("cannot open lock file %s: %s", lock_path_.c_str(), strerror(e)));
  }
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl(lock_fd_, F_SETLK, &fl) != 0) {
    int e = errno;
    if (e != EAGAIN && e != EACCES)
      return Status::failure(e, strf("cannot lock %s: %s", lock_path_.c_str(), strerror(e)));
    // The lock holder may still be starting: give it a moment to listen, so
    // the answer is "already serving" (usable at once) whenever possible.
    int pid = live_daemon_pid(path_);
    for (int i = 0; pid <= 0 && i < 40; ++i) {
      usleep(50 * 1000);
      pid = live_daemon_pid(path_);
    }
    if (pid <= 0) {
      struct flock who = {};
      who.l_type = F_WRLCK;
      who.l_whence = SEEK_SET;
      if (fcntl(lock_fd_, F_GETLK, &who) == 0 && who.l_type != F_UNLCK) pid = who.l_pid;
      return Status::failure(EADDRINUSE, strf("another daemon is starting on %s (pid %d)", path_.c_str(), pid));
    }
    return Status::failure(EADDRINUSE, strf("another daemon is already serving %s (pid %d)", path_.c_str(), pid));
  }

  struct stat st;
  if (lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Status::failure(EEXIST, strf("%s exists and is not a socket", path_.c_str()));
    int pid = live_daemon_pid(path_);
    if (pid != 0)
      return Status::failure(EADDRINUSE, strf("another daemon is already serving %s (pid %d)", path_.c_str(), pid));
    // Nobody listens: a daemon died without cleaning up.
    if (unlink(path_.c_str()) != 0 && errno != ENOENT) {
      int e = errno;
      return Status::failure(e, strf("cannot remove stale socket %s: %s", path_.c_str(), strerror(e)));
    }
  }
  return Status::success();
}

Status ListenSocket::listen_now(bool world) {
  sockaddr_un addr;
  if (!fill_addr(path_, addr))
    return Status::failure(ENAMETOOLONG, strf("socket path %s is too long", path_.c_str()));
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    int e = errno;
    return Status::failure(e, strf("socket: %s", strerror(e)));
  }
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    return Status::failure(e, strf("cannot bind %s: %s", path_.c_str(), strerror(e)));
  }
  bound_ = true;
  // Before listen(), nobody can connect yet, so the mode is right from the start.
  if (chmod(path_.c_str(), world ? 0666 : 0600) != 0) {
    int e = errno;
    return Status::failure(e, strf("cannot chmod %s: %s", path_.c_str(), strerror(e)));
  }
  if (listen(fd_, SOMAXCONN) != 0) {
    int e = errno;
    return Status::failure(e, strf("cannot listen on %s: %s", path_.c_str(), strerror(e)));
  }
  return Status::success();
}

int ListenSocket::release_fd() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void ListenSocket::remove() {
  if (bound_) unlink(path_.c_str());
  bound_ = false;
}

}  // namespace vproc::daemon
