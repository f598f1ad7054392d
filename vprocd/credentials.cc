#include "credentials.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "strf.h"

namespace vproc::daemon {

Status peer_of_socket(int fd, Peer& out) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    int e = errno;
    return Status::failure(e, strf("SO_PEERCRED failed: %s", strerror(e)));
  }
  out = {};
  out.pid = RealPid{uint32_t(cred.pid)};
  out.uid = cred.uid;
  out.gid = cred.gid;
  ProcStat st;
  if (cred.pid > 0 && read_proc_stat(out.pid, st)) out.start_ticks = st.start_ticks;
  return Status::success();
}

ProcUids caller_uids(const Peer& peer) {
  ProcUids now;
  if (peer.start_ticks && process_matches(peer.pid, peer.start_ticks) && read_proc_uids(peer.pid, now) &&
      process_matches(peer.pid, peer.start_ticks))
    return now;
  return ProcUids{peer.uid, peer.uid, peer.uid, peer.uid};
}

bool may_signal(const ProcUids& caller, const ProcUids& target) {
  if (caller.effective == 0) return true;
  return caller.real == target.real || caller.real == target.saved ||
         caller.effective == target.real || caller.effective == target.saved;
}

bool may_checkpoint(const ProcUids& caller, const ProcUids& target) {
  if (caller.effective == 0) return true;
  for (uint32_t uid : {caller.real, caller.effective})
    if (uid == target.real && uid == target.effective && uid == target.saved) return true;
  return false;
}

}  // namespace vproc::daemon
