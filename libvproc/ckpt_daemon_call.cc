// The snapshot writer's own connection to the daemon (the process's link is
// not ours to use: another thread of the original may hold it).
#include "ckpt_daemon_call.h"

#include <cerrno>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <cstring>

#include "raw_syscall.h"
#include "state.h"

namespace vproc::lib {

int ckpt_daemon_call(const wire::Request& req, wire::Reply& reply, int timeout_s) {
  long fd = raw::sys(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return int(fd);
  struct timeval send_tv = {30, 0}, recv_tv = {timeout_s, 0};  // 0: none
  raw::sys(SYS_setsockopt, fd, SOL_SOCKET, SO_RCVTIMEO, &recv_tv, sizeof recv_tv);
  raw::sys(SYS_setsockopt, fd, SOL_SOCKET, SO_SNDTIMEO, &send_tv, sizeof send_tv);
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, state().socket_path, sizeof sa.sun_path - 1);
  long r = raw::sys(SYS_connect, fd, &sa, sizeof sa);
  alignas(8) static char buf[wire::kLargeFrameBytes];
  size_t len = r < 0 ? 0 : wire::encode(req, buf, sizeof buf);
  if (r >= 0 && len == 0) r = -EMSGSIZE;
  for (size_t done = 0; r >= 0 && done < len;) {
    long n = raw::sys(SYS_sendto, fd, buf + done, len - done, MSG_NOSIGNAL, nullptr, 0);
    if (n == -EINTR) continue;
    if (n <= 0) r = n < 0 ? n : -EPIPE;
    else done += size_t(n);
  }
  size_t have = 0, want = 0;
  while (r >= 0 && (want == 0 || have < want)) {
    long n = raw::sys(SYS_read, fd, buf + have, sizeof buf - have);
    if (n == -EINTR) continue;
    if (n <= 0) {
      r = n < 0 ? n : -ECONNRESET;
      break;
    }
    have += size_t(n);
    if (want == 0) {
      want = wire::frame_size(buf, have);
      if (want == SIZE_MAX || want > sizeof buf) r = -EPROTO;
    }
  }
  raw::sys(SYS_close, fd);
  if (r < 0) return int(r);
  return wire::decode(buf, want, reply) ? 0 : -EPROTO;
}

}  // namespace vproc::lib
