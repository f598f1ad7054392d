// Descriptors ending or being replaced: close, close_range, closefrom, dup,
// dup2, dup3.
//
// Two things of ours live in the program's descriptor table:
//   - the daemon link's socket (daemon_link.h). It is ours, so to the program
//     it is not open: close() of it fails with EBADF as for a closed number, a
//     dup2()/dup3() onto it moves the link away first, close_range() skips it;
//   - the signalfd marks (signalfd_fds.h), which must follow the descriptors.
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

#include "daemon_link.h"
#include "libc_boundary.h"
#include "raw_syscall.h"
#include "real_fn.h"
#include "signalfd_fds.h"
#include "state.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(close);
VPROC_REAL(dup);
VPROC_REAL(dup2);
VPROC_REAL(dup3);
VPROC_REAL(close_range);
VPROC_REAL(closefrom);

namespace {

// close_range(2) over [first, last] without the link's descriptor.
long close_range_sparing_link(unsigned first, unsigned last, unsigned flags) {
  if (!(flags & CLOSE_RANGE_CLOEXEC)) clear_signalfd_marks(first, last);
  int link = state().conn_fd.load(std::memory_order_acquire);
  // CLOSE_RANGE_CLOEXEC leaves every descriptor open: the link is close-on-exec anyway.
  if (link < 0 || unsigned(link) < first || unsigned(link) > last || (flags & CLOSE_RANGE_CLOEXEC))
    return raw::sys(SYS_close_range, first, last, flags);
  long r = 0;
  if (unsigned(link) > first) r = raw::sys(SYS_close_range, first, unsigned(link) - 1, flags);
  if (r == 0 && unsigned(link) < last)
    r = raw::sys(SYS_close_range, unsigned(link) + 1, last, flags & ~unsigned(CLOSE_RANGE_UNSHARE));
  return r;
}

}  // namespace

VPROC_EXPORT int close(int fd) noexcept {
  if (!active()) return real_close(fd);
  if (is_link_fd(fd)) return fail_errno(EBADF);
  // Before closing: once closed, another thread may get the number from a new
  // signalfd and mark it.
  set_signalfd_mark(fd, false);
  return real_close(fd);
}

VPROC_EXPORT int dup(int fd) noexcept {
  int r = real_dup(fd);
  if (r >= 0 && active()) set_signalfd_mark(r, is_signalfd(fd));
  return r;
}

VPROC_EXPORT int dup2(int oldfd, int newfd) noexcept {
  if (!active()) return real_dup2(oldfd, newfd);
  if (is_link_fd(newfd)) link_vacate_fd(newfd);
  int r = real_dup2(oldfd, newfd);
  if (r >= 0) set_signalfd_mark(r, is_signalfd(oldfd));
  return r;
}

VPROC_EXPORT int dup3(int oldfd, int newfd, int flags) noexcept {
  if (!active()) return real_dup3(oldfd, newfd, flags);
  if (oldfd != newfd && is_link_fd(newfd)) link_vacate_fd(newfd);
  int r = real_dup3(oldfd, newfd, flags);
  if (r >= 0) set_signalfd_mark(r, is_signalfd(oldfd));
  return r;
}

VPROC_EXPORT int close_range(unsigned int first, unsigned int last, int flags) noexcept {
  if (!active()) return real_close_range(first, last, flags);
  // Argument errors are the kernel's to report, before anything is closed.
  if (first > last || (unsigned(flags) & ~unsigned(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)))
    return fail_errno(EINVAL);
  long r = close_range_sparing_link(first, last, unsigned(flags));
  return r < 0 ? fail_errno(int(r)) : 0;
}

// glibc's closefrom uses close_range internally, where we would not see it.
VPROC_EXPORT void closefrom(int lowfd) noexcept {
  if (!active()) return real_closefrom(lowfd);
  close_range_sparing_link(unsigned(lowfd < 0 ? 0 : lowfd), UINT_MAX, 0);  // errno untouched
}
