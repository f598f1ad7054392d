// The daemon's log: one line per event, with a timestamp, written with a single
// write(2) so lines from a crashing daemon are never interleaved or half-buffered.
//
// Errors are always written. Events (registrations, exits, signals, connections)
// only at Level::Event, which main() selects for --log FILE or --verbose: a
// daemon logging to a terminal stays quiet unless something goes wrong.
#pragma once

#include <cstdarg>
#include <string>

#include "status.h"

namespace vproc::daemon {

class Logger {
 public:
  enum class Level { Silent = -1, Error = 0, Warning = 1, Event = 2 };

  Logger() = default;
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Appends to `path` from now on (created 0644 if missing).
  Status open_file(const std::string& path);
  // Reopens the file after log rotation (SIGHUP); no-op when logging to stderr.
  Status reopen();
  // The descriptor lines go to (stderr unless a file is open).
  int fd() const { return fd_; }

  void set_level(Level level) { level_ = level; }
  bool enabled(Level level) const { return int(level) <= int(level_); }

  void error(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  void warning(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  void event(const char* fmt, ...) __attribute__((format(printf, 2, 3)));

 private:
  void write_line(Level level, const char* fmt, va_list ap);

  int fd_ = 2;
  bool own_fd_ = false;
  std::string path_;
  Level level_ = Level::Error;
};

}  // namespace vproc::daemon
