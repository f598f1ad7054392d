// system(), on top of our posix_spawn: glibc's own system() spawns through an
// internal call we cannot see, so its child would miss its identity.
//
// POSIX semantics: while the command runs the caller ignores SIGINT and SIGQUIT
// (the terminal's ^C goes to the command, not to the program waiting for it)
// and blocks SIGCHLD (so a SIGCHLD handler cannot reap the shell first); the
// shell starts with those signals at their default and the caller's mask.
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libc_boundary.h"
#include "real_fn.h"
#include "spawn_child.h"
#include "state.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(system);

namespace {

// Concurrent system() calls share one ignore/restore of SIGINT and SIGQUIT:
// the first caller saves the program's dispositions, the last restores them.
// A spin lock is fine: system() is not async-signal-safe, no handler takes it.
void lock_system() {
  while (state().system_lock.exchange(1, std::memory_order_acquire)) sched_yield();
}
void unlock_system() { state().system_lock.store(0, std::memory_order_release); }

void ignore_interrupts(struct sigaction* old_int, struct sigaction* old_quit) {
  ProcessState& st = state();
  lock_system();
  if (st.system_users++ == 0) {
    struct sigaction ign = {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGINT, &ign, &st.system_saved_int);
    sigaction(SIGQUIT, &ign, &st.system_saved_quit);
  }
  *old_int = st.system_saved_int;
  *old_quit = st.system_saved_quit;
  unlock_system();
}

void restore_interrupts() {
  ProcessState& st = state();
  lock_system();
  if (--st.system_users == 0) {
    sigaction(SIGINT, &st.system_saved_int, nullptr);
    sigaction(SIGQUIT, &st.system_saved_quit, nullptr);
  }
  unlock_system();
}

// Runs `sh -c -- command` and returns its wait status (127 << 8 when the shell
// could not be started, as glibc does), or -1 with errno if waiting failed.
int run_shell(const char* command) {
  struct sigaction old_int, old_quit;
  ignore_interrupts(&old_int, &old_quit);
  sigset_t chld, old_mask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old_mask);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t reset;
  sigemptyset(&reset);
  if (old_int.sa_handler != SIG_IGN) sigaddset(&reset, SIGINT);
  if (old_quit.sa_handler != SIG_IGN) sigaddset(&reset, SIGQUIT);
  posix_spawnattr_setsigdefault(&attr, &reset);
  posix_spawnattr_setsigmask(&attr, &old_mask);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  char sh[] = "sh", dash_c[] = "-c", dashes[] = "--";
  char* argv[] = {sh, dash_c, dashes, const_cast<char*>(command), nullptr};
  pid_t pid = 0;
  int status;
  int saved_errno = errno;
  int rc = spawn_child(&pid, "/bin/sh", nullptr, &attr, argv, environ, false);
  posix_spawnattr_destroy(&attr);
  if (rc == 0) {
    pid_t r;
    do r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    if (r != pid) status = -1;
    else errno = saved_errno;
  } else {
    status = 127 << 8;  // as if the shell had run and said "not found"
    errno = saved_errno;
  }
  int wait_errno = errno;
  restore_interrupts();
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  errno = wait_errno;
  return status;
}

}  // namespace

VPROC_EXPORT int system(const char* command) noexcept {
  if (!active()) return real_system(command);
  // A null command asks whether a shell is available.
  if (!command) return run_shell("exit 0") == 0;
  return run_shell(command);
}
