#include "signal_delivery.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "pidfd.h"
#include "proc_stat.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

// A pidfd naming exactly rec's task even if its pid was reused: its own, or,
// for records without one (child processes, see spawned()), one opened now,
// before the start time is checked, so that what is checked and what is
// signalled are the same task. -1 if it is gone; `own` >= 0: close it after.
int pidfd_of(const ProcessRecord& rec, int& own) {
  own = -1;
  if (!rec.live()) return -1;
  if (rec.pidfd >= 0) return rec.pidfd;
  own = open_pidfd(rec.real, rec.thread);
  ProcStat st;
  if (own < 0 || !read_proc_stat(rec.real, st) || st.start_ticks != rec.start_ticks) {
    if (own >= 0) close(own);
    own = -1;
    return -1;
  }
  return own;
}

Status signal_one(const ProcessRecord& rec, const ProcUids& caller, int signo, int64_t target) {
  const Status gone = Status::failure(ESRCH, strf("no such process %lld", (long long)target));
  int own;
  int fd = pidfd_of(rec, own);
  if (fd < 0) return gone;
  ProcUids t;
  Status result = Status::success();
  if (!read_proc_uids(rec.real, t)) {
    result = gone;
  } else if (!may_signal(caller, t)) {
    result = Status::failure(EPERM, strf("not permitted to signal %lld", (long long)target));
  } else if (int r = signal_pidfd(fd, signo, rec.thread); r < 0) {
    result = Status::failure(-r, strf("cannot signal %lld: %s", (long long)target, strerror(-r)));
  }
  if (own >= 0) close(own);
  return result;
}

// Every process in group `pgrp` (vproc or not), each checked like kill(2) would.
Status signal_group(pid_t pgrp, const ProcUids& caller, int signo, int64_t target) {
  ProcUids daemon{uint32_t(getuid()), uint32_t(geteuid()), 0, 0};
  if (caller.effective == 0 || (caller.real == daemon.real && caller.effective == daemon.effective)) {
    // The kernel's own check of the daemon's rights gives the caller's answer:
    // let it deliver to the whole group at once (atomic against forks).
    if (kill(-pgrp, signo) == 0) return Status::success();
    int e = errno;
    if (e == ESRCH) return Status::failure(ESRCH, strf("no such process group %lld", (long long)target));
    return Status::failure(e, strf("cannot signal process group %lld: %s", (long long)target, strerror(e)));
  }
  // Otherwise check every member with the caller's uids.
  DIR* d = opendir("/proc");
  if (!d) {
    int e = errno;
    return Status::failure(e, strf("cannot read /proc: %s", strerror(e)));
  }
  int members = 0, sent = 0, last_err = 0;
  while (struct dirent* de = readdir(d)) {
    char* end;
    unsigned long pid = strtoul(de->d_name, &end, 10);
    if (*end || pid == 0 || pid >= kRealPidLimit) continue;
    RealPid real{uint32_t(pid)};
    // Open first, then check: what we check and what we signal are one process.
    int fd = open_pidfd(real, false);
    if (fd < 0) continue;
    ProcStat st;
    ProcUids t;
    if (read_proc_stat(real, st) && st.pgrp == pgrp && read_proc_uids(real, t)) {
      ++members;
      if (!may_signal(caller, t)) {
        last_err = EPERM;
      } else {
        int r = signal_pidfd(fd, signo, false);
        if (r == 0) ++sent;
        else last_err = -r;
      }
    }
    close(fd);
  }
  closedir(d);
  if (members == 0) return Status::failure(ESRCH, strf("no such process group %lld", (long long)target));
  if (sent == 0)
    return Status::failure(last_err ? last_err : EPERM,
                           strf("cannot signal process group %lld: %s", (long long)target, strerror(last_err)));
  return Status::success();
}

}  // namespace

Status deliver_signal(const ProcessTable& table, const Peer& caller, int64_t target, int signo) {
  return deliver_signal(table, caller_uids(caller), target, signo);
}

Status deliver_signal(const ProcessTable& table, const ProcUids& who, int64_t target, int signo) {
  if (signo < 0 || signo >= NSIG) return Status::failure(EINVAL, strf("invalid signal %d", signo));
  int64_t v = target < 0 ? -target : target;
  if (!valid_vpid(v)) return Status::failure(EINVAL, strf("%lld is not a vpid", (long long)target));
  const ProcessRecord* rec = table.find(VPid{uint32_t(v)});
  if (!rec) return Status::failure(ESRCH, strf("no such vpid %lld", (long long)v));
  if (target > 0) return signal_one(*rec, who, signo, target);
  if (rec->thread) return Status::failure(ESRCH, strf("vpid %lld is a thread, not a group leader", (long long)v));
  return signal_group(pid_t(rec->real.value), who, signo, target);
}

Status queue_signal(const ProcessRecord& rec, int signo, uint64_t value) {
  int own;
  int fd = pidfd_of(rec, own);
  if (fd < 0) return Status::failure(ESRCH, strf("vpid %u has exited", rec.vpid.value));
  siginfo_t info{};
  info.si_signo = signo;
  info.si_code = SI_QUEUE;
  info.si_pid = getpid();
  info.si_uid = getuid();
  info.si_value.sival_ptr = reinterpret_cast<void*>(uintptr_t(value));
  int r = queue_pidfd(fd, info);
  if (own >= 0) close(own);
  if (r == -ESRCH) return Status::failure(ESRCH, strf("vpid %u has exited", rec.vpid.value));
  if (r < 0) return Status::failure(-r, strf("cannot signal vpid %u: %s", rec.vpid.value, strerror(-r)));
  return Status::success();
}

}  // namespace vproc::daemon
