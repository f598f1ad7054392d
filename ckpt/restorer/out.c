#include "out.h"

#include <asm/errno.h>

#include "sys.h"

void rs_msg_begin(struct rs_msg* m) {
  m->len = 0;
  rs_msg_str(m, "vproc-restorer: ");
}

void rs_msg_str(struct rs_msg* m, const char* s) {
  /* One byte stays free for the newline rs_msg_die adds. */
  while (*s && m->len + 1 < sizeof m->buf) m->buf[m->len++] = *s++;
}

void rs_msg_hex(struct rs_msg* m, uint64_t v) {
  char tmp[19];
  int i = sizeof tmp;
  do {
    unsigned d = v & 15;
    tmp[--i] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v >>= 4;
  } while (v);
  tmp[--i] = 'x';
  tmp[--i] = '0';
  while (i < (int)sizeof tmp && m->len + 1 < sizeof m->buf) m->buf[m->len++] = tmp[i++];
}

void rs_msg_dec(struct rs_msg* m, int64_t v) {
  char tmp[21];
  int i = sizeof tmp;
  uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
  do {
    tmp[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) tmp[--i] = '-';
  while (i < (int)sizeof tmp && m->len + 1 < sizeof m->buf) m->buf[m->len++] = tmp[i++];
}

/* The errors mmap, mremap, pread, prctl and rt_sigaction can give, in the
 * words strerror uses; others are shown by number. */
static const char* errno_text(long e) {
  switch (e) {
    case EPERM: return "Operation not permitted";
    case ENOENT: return "No such file or directory";
    case EINTR: return "Interrupted system call";
    case EIO: return "Input/output error";
    case ENXIO: return "No such device or address";
    case EBADF: return "Bad file descriptor";
    case EAGAIN: return "Resource temporarily unavailable";
    case ENOMEM: return "Cannot allocate memory";
    case EACCES: return "Permission denied";
    case EFAULT: return "Bad address";
    case EBUSY: return "Device or resource busy";
    case EEXIST: return "File exists";
    case ENODEV: return "No such device";
    case EINVAL: return "Invalid argument";
    case ENFILE: return "Too many open files in system";
    case EMFILE: return "Too many open files";
    case ETXTBSY: return "Text file busy";
    case EFBIG: return "File too large";
    case EOVERFLOW: return "Value too large for defined data type";
    case ENOSPC: return "No space left on device";
    case ENOSYS: return "Function not implemented";
    default: return 0;
  }
}

void rs_msg_errno(struct rs_msg* m, long neg_errno) {
  const char* t = errno_text(-neg_errno);
  rs_msg_str(m, ": ");
  if (t) {
    rs_msg_str(m, t);
  } else {
    rs_msg_str(m, "error ");
    rs_msg_dec(m, -neg_errno);
  }
}

void rs_msg_die(struct rs_msg* m) {
  m->buf[m->len++] = '\n';
  rs_sys3(__NR_write, 2, m->buf, m->len);
  rs_exit(1);
}

void rs_die(const char* what) {
  struct rs_msg m;
  rs_msg_begin(&m);
  rs_msg_str(&m, what);
  rs_msg_die(&m);
}
