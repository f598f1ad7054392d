// forkpty(): glibc forks inside it through an internal call, so the program
// would get the child's real pid. Rebuilt here on openpty, our fork() and
// login_tty, which is what forkpty is defined to do.
#include <pty.h>
#include <unistd.h>
#include <utmp.h>

#include "libc_boundary.h"
#include "real_fn.h"
#include "state.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(forkpty);

VPROC_EXPORT pid_t forkpty(int* amaster, char* name, const struct termios* termp,
                           const struct winsize* winp) noexcept {
  if (!active()) return real_forkpty(amaster, name, termp, winp);
  int master, slave;
  if (openpty(&master, &slave, name, termp, winp) == -1) return -1;
  pid_t pid = fork();
  if (pid == -1) {
    int e = errno;
    close(master);
    close(slave);
    errno = e;
    return -1;
  }
  if (pid == 0) {
    // The child: the terminal becomes its controlling terminal and stdio.
    close(master);
    if (login_tty(slave) != 0) _exit(1);
    return 0;
  }
  *amaster = master;
  close(slave);
  return pid;
}
