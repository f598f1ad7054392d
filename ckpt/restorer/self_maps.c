#include "self_maps.h"

#include <asm/errno.h>
#include <linux/fcntl.h>

#include "sys.h"

/* The restorer has about ten mappings: a few hundred bytes of text. */
static char maps_text[16384];

static int str_eq(const char* a, const char* a_end, const char* b) {
  while (a < a_end && *b && *a == *b) ++a, ++b;
  return a == a_end && *b == 0;
}

static const char* parse_hex(const char* p, const char* end, uint64_t* out) {
  uint64_t v = 0;
  for (; p < end; ++p) {
    char c = *p;
    unsigned d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else break;
    v = v << 4 | d;
  }
  *out = v;
  return p;
}

/* "START-END PERMS OFFSET DEV INODE   NAME": the range and the name. */
static void parse_line(const char* p, const char* end, struct rs_self_maps* out) {
  struct rs_range r;
  p = parse_hex(p, end, &r.start);
  if (p == end || *p != '-') return;
  p = parse_hex(p + 1, end, &r.end);
  for (int field = 0; field < 4; ++field) { /* skip perms, offset, dev, inode */
    while (p < end && *p == ' ') ++p;
    while (p < end && *p != ' ') ++p;
  }
  while (p < end && *p == ' ') ++p;
  if (str_eq(p, end, "[stack]")) out->stack = r;
  else if (str_eq(p, end, "[vvar]")) out->vvar = r;
  else if (str_eq(p, end, "[vvar_vclock]")) out->vvar_vclock = r;
  else if (str_eq(p, end, "[vdso]")) out->vdso = r;
}

long rs_read_self_maps(struct rs_self_maps* out) {
  long fd = rs_sys4(__NR_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
  if (rs_failed(fd)) return fd;
  unsigned long len = 0;
  for (;;) {
    if (len == sizeof maps_text) {
      rs_sys1(__NR_close, fd);
      return -E2BIG;
    }
    long n = rs_sys3(__NR_read, fd, maps_text + len, sizeof maps_text - len);
    if (n == -EINTR) continue;
    if (rs_failed(n)) {
      rs_sys1(__NR_close, fd);
      return n;
    }
    if (n == 0) break;
    len += (unsigned long)n;
  }
  rs_sys1(__NR_close, fd);

  struct rs_self_maps zero = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
  *out = zero;
  const char* p = maps_text;
  const char* end = maps_text + len;
  while (p < end) {
    const char* eol = p;
    while (eol < end && *eol != '\n') ++eol;
    parse_line(p, eol, out);
    p = eol + 1;
  }
  return 0;
}
