// Sending signals: kill, killpg, sigqueue, tgkill, pidfd_open.
//
// Targets are translated to real pids and the real call does the rest, so
// permission errors come from the kernel's own rule. A vpid nobody uses is
// ESRCH, as for a pid that does not exist.
#include <errno.h>
#include <signal.h>
// glibc 2.36's <sys/pidfd.h> lacks the extern "C" block its other headers have.
extern "C" {
#include <sys/pidfd.h>
}

#include <variant>

#include "daemon_link.h"
#include "libc_boundary.h"
#include "pid_types.h"
#include "real_fn.h"
#include "state.h"
#include "translate.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(kill);
VPROC_REAL(killpg);
VPROC_REAL(sigqueue);
VPROC_REAL(tgkill);
VPROC_REAL(pidfd_open);

namespace {

// A process on another node: its daemon delivers the signal (checking kill(2)'s
// permission rule against our credentials). With `value`, as sigqueue(3): the
// receiver gets SI_QUEUE and the value, but its si_pid/si_uid are that
// daemon's, not ours.
int signal_remote(int64_t target, int sig, const union sigval* value = nullptr) {
  wire::Signal m{target, sig};
  if (value) {
    m.queued = true;
    m.value = uint64_t(uintptr_t(value->sival_ptr));
  }
  wire::Reply reply;
  if (round_trip(m, reply) != 0) return fail_errno(ESRCH);
  if (const wire::Error* e = std::get_if<wire::Error>(&reply)) return fail_errno(e->err > 0 ? e->err : ESRCH);
  return 0;
}

// A translation failure as the kernel would report it for that target.
int fail_target(long err) { return fail_errno(err == -EREMOTE ? EREMOTE : ESRCH); }

}  // namespace

VPROC_EXPORT int kill(pid_t pid, int sig) noexcept {
  if (!active()) return real_kill(pid, sig);
  int err = 0;
  pid_t real = to_real_pid_or_group(pid, &err);
  if (err == -EREMOTE) return signal_remote(pid, sig);
  if (err) return fail_target(err);
  return real_kill(real, sig);
}

VPROC_EXPORT int killpg(pid_t pgrp, int sig) noexcept {
  if (!active() || !is_virtual_number(pgrp)) return real_killpg(pgrp, sig);
  long real = to_real_pgid(pgrp);
  if (real == -EREMOTE) return signal_remote(-int64_t(pgrp), sig);
  if (real < 0) return fail_target(real);
  return real_killpg(pid_t(real), sig);
}

VPROC_EXPORT int sigqueue(pid_t pid, int sig, const union sigval value) noexcept {
  if (!active() || !is_virtual_number(pid)) return real_sigqueue(pid, sig, value);
  long real = to_real_pid(pid);
  if (real == -EREMOTE) return signal_remote(pid, sig, &value);
  if (real < 0) return fail_target(real);
  return real_sigqueue(pid_t(real), sig, value);
}

// A thread of a process: both ids are translated (vpid, vtid).
VPROC_EXPORT int tgkill(pid_t tgid, pid_t tid, int sig) noexcept {
  if (!active()) return real_tgkill(tgid, tid, sig);
  long rg = tgid > 0 ? to_real_pid(tgid) : tgid;
  if (rg < 0 && tgid > 0) return fail_target(rg);
  long rt = tid > 0 ? to_real_tid(tid) : tid;
  if (rt < 0 && tid > 0) return fail_target(rt);
  return real_tgkill(pid_t(rg), pid_t(rt), sig);
}

VPROC_EXPORT int pidfd_open(pid_t pid, unsigned int flags) noexcept {
  if (!active() || !is_virtual_number(pid)) return real_pidfd_open(pid, flags);
  long real = to_real_pid(pid);
  if (real < 0) return fail_target(real);
  return real_pidfd_open(pid_t(real), flags);
}
