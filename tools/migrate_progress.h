// `migrate`'s progress display (docs/cluster.md, "Migration"). The migrate
// request gets one reply, at the end; meanwhile, when stderr is a terminal, a
// second connection to the daemon asks how far the migration is
// (MigrateProgress) ten times a second and one line on stderr shows it,
// redrawn in place:
//   vpid 4194305 → h2  sending  [#########...........]  412 MiB / 1.0 GiB  1.2 GiB/s
// Nothing is drawn for a migration over within 0.3 s, and the line is erased
// before the result (or the error) is printed. The display never changes what
// the command prints on stdout or its exit status.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "wire.h"

namespace vproc::tools {

// One frame, at most `width` - 1 columns (the last column is left alone so a
// terminal never wraps it; `width` 0: 80). `rate`: bytes per second in this
// stage, 0 to leave it out. Empty for stage None.
std::string progress_line(uint32_t vpid, const std::string& node, const wire::Progress& p, double rate, int width);

// Terminal columns of a UTF-8 string (one per code point: enough for our text).
size_t display_width(const std::string& s);

// The poller and the line it draws. Does nothing unless stderr is a terminal.
class ProgressDisplay {
 public:
  ProgressDisplay(std::string socket_path, uint32_t vpid, std::string node);
  ~ProgressDisplay() { stop(); }
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  // Ends the polling and erases the line if one is shown. Call it before
  // printing anything else.
  void stop();

  struct State;  // shared with the poller thread

 private:
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace vproc::tools
