// Epoll instances in the snapshot. The kernel lists an instance's
// registrations in its fdinfo, one line each:
//   tfd:        5 events: 80000019 data: 1122334455667788  pos:0 ino:3b3821 sdev:f
// A registration is keyed by the file and the fd number it was added with; it
// outlives that fd when the file stays open elsewhere (a dup), and the number
// may since name another file. kcmp(KCMP_EPOLL_TFD) says whether the fd still
// is the registered file: only then can restore add it again by number.
#include <cerrno>
#include <linux/kcmp.h>
#include <sys/syscall.h>

#include <cstring>

#include "ckpt_records.h"
#include "diag.h"
#include "raw_syscall.h"

namespace vproc::lib {
namespace {

// The number after KEY on the line at P (base 10 or 16).
uint64_t number_after(const char* p, const char* key, int base, const char* end) {
  p = strstr(p, key);
  if (!p || p >= end) return 0;
  for (p += strlen(key); *p == ' ' || *p == '\t'; ++p) {
  }
  uint64_t v = 0;
  for (;; ++p) {
    int d = *p >= '0' && *p <= '9' ? *p - '0' : base == 16 && *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
    if (d < 0) return v;
    v = v * uint64_t(base) + uint64_t(d);
  }
}

const FdRec* find_fd(const ImageOut& out, int fd) {
  int lo = 0, hi = out.fd_count;  // /proc/self/fd lists ascending
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (out.fds[mid].fd < fd) lo = mid + 1;
    else hi = mid;
  }
  return lo < out.fd_count && out.fds[lo].fd == fd ? &out.fds[lo] : nullptr;
}

void refuse(ImageOut& out, FdRec& ep, int target, const char* why) {
  char num[24] = "fd ", tfd[24];
  format_u64(uint64_t(ep.fd), num + 3);
  format_u64(uint64_t(target), tfd);
  out.refusals.add(num, " (epoll): watches fd ", tfd, why);
  ep.refused = true;
}

}  // namespace

int read_epoll_watches(Scratch& s, FdRec& r, const char* info) {
  int n = 0;
  for (const char* p = info; (p = strstr(p, "tfd:")); ++p) ++n;
  r.watches = s.take_array<EpollRec>(size_t(n) + 1);
  if (!r.watches) return -ENOMEM;
  r.watch_count = 0;
  for (const char* p = info; (p = strstr(p, "tfd:"));) {
    const char* end = strchr(p, '\n');
    if (!end) end = p + strlen(p);
    EpollRec& w = r.watches[r.watch_count++];
    w.fd = int32_t(number_after(p, "tfd:", 10, end));
    w.events = uint32_t(number_after(p, "events:", 16, end));
    w.data = number_after(p, "data:", 16, end);
    p = end;
  }
  return 0;
}

void check_epoll_watches(ImageOut& out) {
  long pid = raw::sys(SYS_getpid);
  for (int i = 0; i < out.fd_count; ++i) {
    FdRec& ep = out.fds[i];
    if (ep.kind != FdKind::Epoll || ep.refused) continue;
    for (int k = 0; k < ep.watch_count; ++k) {
      const EpollRec& w = ep.watches[k];
      // Registrations of one number for several files are told apart by
      // their rank among that number's (the order fdinfo lists them in).
      struct kcmp_epoll_slot slot = {uint32_t(ep.fd), uint32_t(w.fd), 0};
      for (int j = 0; j < k; ++j) slot.toff += ep.watches[j].fd == w.fd;
      const FdRec* t = find_fd(out, w.fd);
      if (!t) {
        refuse(out, ep, w.fd, ", closed since it was added (its file is still open through another fd)");
      } else if (raw::sys(SYS_kcmp, pid, pid, KCMP_EPOLL_TFD, w.fd, &slot) != 0) {
        refuse(out, ep, w.fd, ", which is another file now than when it was added");
      } else if (t->refused) {
        refuse(out, ep, w.fd, ", which cannot be saved");
      }
    }
  }
}

}  // namespace vproc::lib
