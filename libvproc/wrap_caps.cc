// capget and capset: their header names the target process by pid (0 or the
// caller's own pid for capset). Programs fill it with getpid(), which is a vpid
// under vproc; the kernel answers ESRCH/EPERM for a number it does not know.
// (libcap-ng does this in setpriv, for example.)
#include <errno.h>
#include <linux/capability.h>

#include "libc_boundary.h"
#include "real_fn.h"
#include "state.h"
#include "translate.h"
#include "preload_rules.h"

// glibc exports these without a declaration in its headers (libcap has one).
extern "C" int capget(cap_user_header_t header, cap_user_data_t data) noexcept;
extern "C" int capset(cap_user_header_t header, const cap_user_data_t data) noexcept;

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(capget);
VPROC_REAL(capset);

namespace {

// Calls `real_call(header copy)` with the pid made real. The kernel may write
// its preferred version into the header (an unknown version was asked for):
// that goes back to the caller's header.
template <typename RealCall>
int with_real_header(cap_user_header_t header, RealCall real_call) {
  if (!active() || !header || !is_virtual_number(header->pid)) return real_call(header);
  long real = to_real_pid(header->pid);
  if (real < 0) return fail_errno(int(real));
  __user_cap_header_struct copy = *header;
  copy.pid = int(real);
  int r = real_call(&copy);
  header->version = copy.version;
  return r;
}

}  // namespace

VPROC_EXPORT int capget(cap_user_header_t header, cap_user_data_t data) noexcept {
  return with_real_header(header, [&](cap_user_header_t h) { return real_capget(h, data); });
}

VPROC_EXPORT int capset(cap_user_header_t header, const cap_user_data_t data) noexcept {
  return with_real_header(header, [&](cap_user_header_t h) { return real_capset(h, data); });
}
