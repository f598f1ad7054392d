#include "pidfile.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "proc_stat.h"
#include "strf.h"

namespace vproc::daemon {

Status write_pidfile(const std::string& path, int pid) {
  std::string tmp = strf("%s.tmp.%d", path.c_str(), pid);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    return Status::failure(e, strf("cannot write pidfile %s: %s", path.c_str(), strerror(e)));
  }
  std::string text = strf("%d\n", pid);
  bool ok = write(fd, text.data(), text.size()) == ssize_t(text.size());
  int e = errno;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) e = errno;
    unlink(tmp.c_str());
    return Status::failure(e, strf("cannot write pidfile %s: %s", path.c_str(), strerror(e)));
  }
  return Status::success();
}

void remove_pidfile(const std::string& path, int pid) {
  std::string text;
  if (read_small_file(path.c_str(), text, 64) && atoi(text.c_str()) == pid) unlink(path.c_str());
}

}  // namespace vproc::daemon
