// Pids attached to descriptors: the owner that receives SIGIO/SIGURG (fcntl
// F_*OWN*), the holder of a conflicting lock (F_GETLK), a terminal's foreground
// group and session (ioctl TIOC*), a Unix socket peer's credentials
// (SO_PEERCRED, SCM_CREDENTIALS).
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <climits>

#include "libc_boundary.h"
#include "pid_types.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "signalfd_fds.h"
#include "state.h"
#include "translate.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(fcntl);
VPROC_REAL(fcntl64);
VPROC_REAL(ioctl);
VPROC_REAL(tcgetsid);
VPROC_REAL(getsockopt);
VPROC_REAL(recvmsg);
VPROC_REAL(recvmmsg);
VPROC_REAL(sendmsg);

namespace {

// A translation failure of a target as the kernel would report a missing one.
int fail_target(long err) { return fail_errno(err == -EREMOTE ? EREMOTE : ESRCH); }

// An F_OWNER_* owner from the kernel's view to the program's, in place.
void owner_to_virtual(struct f_owner_ex* ex) {
  if (ex->pid <= 0) return;
  switch (ex->type) {
    case F_OWNER_TID: ex->pid = to_virtual_tid(ex->pid); break;
    case F_OWNER_PGRP: ex->pid = to_virtual_pgid(ex->pid); break;
    default: ex->pid = to_virtual_pid(ex->pid); break;
  }
}

long owner_to_real(int type, pid_t pid) {
  if (pid <= 0) return pid;  // 0: no owner; negative: the kernel's EINVAL
  switch (type) {
    case F_OWNER_TID: return to_real_tid(pid);
    case F_OWNER_PGRP: return to_real_pgid(pid);
    default: return to_real_pid(pid);
  }
}

template <typename Real>
int fcntl_common(Real& real, int fd, int cmd, void* arg) {
  if (!active()) return real(fd, cmd, arg);
  switch (cmd) {
    case F_GETOWN: {
      // F_GETOWN's answer is ambiguous (-1 is an error and process group 1);
      // glibc itself asks F_GETOWN_EX, and so do we to know the owner's kind.
      struct f_owner_ex ex;
      int r = real(fd, F_GETOWN_EX, &ex);
      if (r < 0) return r;
      owner_to_virtual(&ex);
      return ex.type == F_OWNER_PGRP ? -ex.pid : ex.pid;
    }
    case F_SETOWN: {
      int who = int(reinterpret_cast<intptr_t>(arg));  // pid, or -pgid
      if (who == 0 || who == INT_MIN) break;            // no owner; the kernel's EINVAL
      long r = who > 0 ? to_real_pid(who) : to_real_pgid(-who);
      if (r < 0) return fail_target(r);
      return real(fd, cmd, reinterpret_cast<void*>(intptr_t(who > 0 ? r : -r)));
    }
    case F_GETOWN_EX: {
      int r = real(fd, cmd, arg);
      if (r == 0) owner_to_virtual(static_cast<struct f_owner_ex*>(arg));
      return r;
    }
    case F_SETOWN_EX: {
      if (!arg) break;  // the kernel's EFAULT
      struct f_owner_ex ex = *static_cast<const struct f_owner_ex*>(arg);
      long r = owner_to_real(ex.type, ex.pid);
      if (r < 0 && ex.pid > 0) return fail_target(r);
      ex.pid = pid_t(r);
      return real(fd, cmd, &ex);
    }
    case F_GETLK: {
      // The holder of a conflicting classic (process-owned) lock; open file
      // description locks (F_OFD_GETLK) report -1, nobody's pid.
      int r = real(fd, cmd, arg);
      auto* lk = static_cast<struct flock*>(arg);
      if (r == 0 && lk->l_type != F_UNLCK && lk->l_pid > 0) lk->l_pid = to_virtual_pid(lk->l_pid);
      return r;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      int r = real(fd, cmd, arg);
      if (r >= 0) set_signalfd_mark(r, is_signalfd(fd));
      return r;
    }
    default:
      break;
  }
  return real(fd, cmd, arg);
}

// Calls f(cred) for each SCM_CREDENTIALS control message in `msg`; when f
// returns true, the (changed) credentials are written back.
template <typename F>
void for_each_ucred(struct msghdr* msg, F f) {
  if (!msg || !msg->msg_control || msg->msg_controllen < sizeof(struct cmsghdr)) return;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS ||
        c->cmsg_len < CMSG_LEN(sizeof(struct ucred)))
      continue;
    struct ucred cred;
    __builtin_memcpy(&cred, CMSG_DATA(c), sizeof cred);
    if (f(cred)) __builtin_memcpy(CMSG_DATA(c), &cred, sizeof cred);
  }
}

// SCM_CREDENTIALS in a received message: the sender's pid.
void creds_to_virtual(struct msghdr* msg) {
  for_each_ucred(msg, [](struct ucred& cred) {
    if (cred.pid <= 0) return false;
    cred.pid = to_virtual_pid(cred.pid);
    return true;
  });
}

// Does an outgoing message claim credentials with a virtual pid? The kernel
// accepts only the sender's real pid there (or any, with CAP_SYS_ADMIN).
bool has_virtual_creds(const struct msghdr* msg) {
  bool found = false;
  for_each_ucred(const_cast<struct msghdr*>(msg), [&](struct ucred& cred) {
    found = found || is_virtual_number(cred.pid);
    return false;
  });
  return found;
}

void creds_to_real(struct msghdr* msg) {
  for_each_ucred(msg, [](struct ucred& cred) {
    long real = is_virtual_number(cred.pid) ? to_real_pid(cred.pid) : cred.pid;
    if (real <= 0) return false;  // nobody's vpid: the kernel refuses it (EPERM) as it is
    cred.pid = pid_t(real);
    return true;
  });
}

}  // namespace

VPROC_EXPORT int fcntl(int fd, int cmd, ...) noexcept {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);  // as glibc reads it, whatever the command
  va_end(ap);
  return fcntl_common(real_fcntl, fd, cmd, arg);
}

VPROC_EXPORT int fcntl64(int fd, int cmd, ...) noexcept {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return fcntl_common(real_fcntl64, fd, cmd, arg);
}

VPROC_EXPORT int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (!active() || !arg) return real_ioctl(fd, request, arg);
  switch (request) {
    case TIOCGPGRP:
    case TIOCGSID: {
      int r = real_ioctl(fd, request, arg);
      pid_t* id = static_cast<pid_t*>(arg);
      if (r == 0 && *id > 0) *id = to_virtual_pgid(*id);
      return r;
    }
    case TIOCSPGRP: {
      pid_t g = *static_cast<const pid_t*>(arg);
      if (g <= 0) break;  // the kernel's EINVAL
      long r = to_real_pgid(g);
      if (r < 0) return fail_target(r);
      pid_t real = pid_t(r);
      return real_ioctl(fd, request, &real);
    }
    default:
      break;
  }
  return real_ioctl(fd, request, arg);
}

// glibc's tcgetsid asks the terminal with its own internal ioctl.
VPROC_EXPORT pid_t tcgetsid(int fd) noexcept {
  pid_t s = real_tcgetsid(fd);
  if (s <= 0 || !active()) return s;
  return to_virtual_pgid(s);
}

VPROC_EXPORT int getsockopt(int fd, int level, int optname, void* optval, socklen_t* optlen) noexcept {
  int r = real_getsockopt(fd, level, optname, optval, optlen);
  if (r == 0 && level == SOL_SOCKET && optname == SO_PEERCRED && optval && optlen &&
      *optlen >= sizeof(pid_t) && active()) {
    pid_t* pid = static_cast<pid_t*>(optval);  // struct ucred begins with the pid
    if (*pid > 0) *pid = to_virtual_pid(*pid);
  }
  return r;
}

VPROC_EXPORT ssize_t recvmsg(int fd, struct msghdr* msg, int flags) noexcept {
  ssize_t r = real_recvmsg(fd, msg, flags);
  if (r >= 0 && active()) creds_to_virtual(msg);
  return r;
}

VPROC_EXPORT int recvmmsg(int fd, struct mmsghdr* vec, unsigned int vlen, int flags,
                          struct timespec* timeout) noexcept {
  int r = real_recvmmsg(fd, vec, vlen, flags, timeout);
  if (r > 0 && active())
    for (int i = 0; i < r; ++i) creds_to_virtual(&vec[i].msg_hdr);
  return r;
}

VPROC_EXPORT ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) noexcept {
  if (!active() || !has_virtual_creds(msg)) return real_sendmsg(fd, msg, flags);
  // The program's message is const: send a copy with its own control buffer.
  size_t len = msg->msg_controllen;
  alignas(struct cmsghdr) char local[512];
  void* control = local;
  if (len > sizeof local) {
    long m = raw::sys(SYS_mmap, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw::failed(m)) return fail_errno(int(m));
    control = reinterpret_cast<void*>(m);
  }
  __builtin_memcpy(control, msg->msg_control, len);
  struct msghdr copy = *msg;
  copy.msg_control = control;
  creds_to_real(&copy);
  ssize_t r = real_sendmsg(fd, &copy, flags);
  if (control != local) {
    int saved = errno;
    raw::sys(SYS_munmap, control, len);
    errno = saved;
  }
  return r;
}
