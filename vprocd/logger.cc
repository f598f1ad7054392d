#include "logger.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "strf.h"

namespace vproc::daemon {

Logger::~Logger() {
  if (own_fd_) close(fd_);
}

Status Logger::open_file(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    return Status::failure(e, strf("cannot open log file %s: %s", path.c_str(), strerror(e)));
  }
  if (own_fd_) close(fd_);
  fd_ = fd;
  own_fd_ = true;
  path_ = path;
  return Status::success();
}

Status Logger::reopen() {
  if (!own_fd_) return Status::success();
  return open_file(std::string(path_));
}

void Logger::error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  write_line(Level::Error, fmt, ap);
  va_end(ap);
}

void Logger::warning(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  write_line(Level::Warning, fmt, ap);
  va_end(ap);
}

void Logger::event(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  write_line(Level::Event, fmt, ap);
  va_end(ap);
}

void Logger::write_line(Level level, const char* fmt, va_list ap) {
  if (!enabled(level)) return;
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char line[1024];
  size_t n = strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S", &tm);
  static const char* const kTags[] = {"error: ", "warning: ", ""};
  int w = snprintf(line + n, sizeof line - n, ".%03ld vprocd[%d]: %s", long(tv.tv_usec / 1000),
                   int(getpid()), kTags[int(level)]);
  if (w > 0) n += size_t(w);
  if (n < sizeof line) {
    w = vsnprintf(line + n, sizeof line - n, fmt, ap);
    if (w > 0) n += size_t(w);
  }
  if (n > sizeof line - 2) n = sizeof line - 2;  // long lines are truncated, not dropped
  line[n++] = '\n';
  ssize_t ignored = write(fd_, line, n);
  (void)ignored;  // nowhere left to report a failing log
}

}  // namespace vproc::daemon
