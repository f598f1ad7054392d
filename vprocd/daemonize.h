// Detaching from the terminal, so that `vprocd && vproc ps` works.
//
// The first process forks the daemon and waits on a pipe: it exits 0 only when
// the daemon reports its socket is listening, and with the daemon's exit status
// if it dies first (the daemon prints its own error on the inherited stderr).
#pragma once

#include "status.h"

namespace vproc::daemon {

class Detach {
 public:
  // In the daemon: returns. In the first process: never returns. The daemon
  // keeps descriptors 0-2 and `keep_fd` (the log, or -1) and closes every other
  // inherited one: a pipe held open by accident would keep whoever started us
  // (`x=$(vprocd)`, a test harness) waiting for an EOF that never comes.
  Status fork_daemon(int keep_fd);
  // The daemon is serving: release the first process, then point stdin at
  // /dev/null and stdout/stderr at `log_fd` (or /dev/null when -1).
  void report_ready(int log_fd);

 private:
  int ready_fd_ = -1;
};

}  // namespace vproc::daemon
