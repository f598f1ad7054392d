#include "diag.h"

#include <string.h>
#include <sys/syscall.h>

#include "raw_syscall.h"
#include "state.h"
#include "preload_rules.h"

namespace vproc::lib {

void diag(std::initializer_list<const char*> pieces) {
  char buf[1024];
  size_t n = 0;
  auto put = [&](const char* p) {
    while (*p && n < sizeof buf - 1) buf[n++] = *p++;
  };
  put("vproc: ");
  for (const char* p : pieces) put(p ? p : "(null)");
  buf[n++] = '\n';
  raw::sys(SYS_write, 2, buf, n);  // raw: errno untouched
}

void diag_once(uint32_t notice, std::initializer_list<const char*> pieces) {
  uint32_t before = state().notices.fetch_or(notice, std::memory_order_relaxed);
  if (!(before & notice)) diag(pieces);
}

const char* errno_text(int err) {
  // strerrordesc_np (glibc 2.32) returns a static English string: unlike
  // strerror it takes no locale lock and never allocates.
  const char* s = strerrordesc_np(err);
  return s ? s : "unknown error";
}

char* format_u64(uint64_t v, char* buf) {
  char tmp[21];
  int i = 0;
  do tmp[i++] = char('0' + v % 10); while ((v /= 10) != 0);
  int j = 0;
  while (i) buf[j++] = tmp[--i];
  buf[j] = '\0';
  return buf;
}

}  // namespace vproc::lib
