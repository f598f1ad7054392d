// Pipes in the snapshot (ckpt_fds.cc calls this once the fd table is read, the
// process still frozen). A pipe whose read and write ends are both open in the
// process is saved whole: its capacity and the bytes buffered in it. The
// snapshot shares the open file descriptions with the process, so reading
// the pipe would take the bytes from the program: tee(2) duplicates them into
// a pipe of our own instead (it only takes references to the pipe's buffers)
// and that one is read. A pipe with one end here is a pipe to another process:
// on fds 0-2 it is stdio (the restoring command's), elsewhere it is refused.
#include <cerrno>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <cstring>

#include "ckpt_records.h"
#include "diag.h"
#include "raw_syscall.h"

namespace vproc::lib {
namespace {

bool reads(const FdRec& r) { return (r.flags & O_ACCMODE) != O_WRONLY; }
bool writes(const FdRec& r) { return (r.flags & O_ACCMODE) != O_RDONLY; }

// Orders fd indices by (pipe inode, fd): each pipe's fds become one run, its
// lowest fd first. Heapsort: no recursion, no allocation.
bool before(const ImageOut& out, int a, int b) {
  const FdRec &x = out.fds[a], &y = out.fds[b];
  return x.ino != y.ino ? x.ino < y.ino : x.fd < y.fd;
}

void sift(const ImageOut& out, int* v, int at, int n) {
  for (int child; (child = 2 * at + 1) < n; at = child) {
    if (child + 1 < n && before(out, v[child], v[child + 1])) ++child;
    if (!before(out, v[at], v[child])) return;
    int t = v[at];
    v[at] = v[child];
    v[child] = t;
  }
}

void sort_by_pipe(const ImageOut& out, int* v, int n) {
  for (int i = n / 2 - 1; i >= 0; --i) sift(out, v, i, n);
  for (int end = n - 1; end > 0; --end) {
    int t = v[0];
    v[0] = v[end];
    v[end] = t;
    sift(out, v, 0, end);
  }
}

void refuse(ImageOut& out, FdRec& r, const char* why) {
  char num[24] = "fd ";
  format_u64(uint64_t(r.fd), num + 3);
  out.refusals.add(num, " ", r.path, why);
  r.refused = true;
}

// The LEN bytes buffered in the pipe READER reads, copied without consuming
// them; SIZE is its capacity. 0, -ENOMEM, or another -errno with *why saying
// what failed.
int copy_buffered(Scratch& s, int reader, uint32_t size, uint64_t len, char** data, const char** why) {
  char* buf = static_cast<char*>(s.take(len, 4096));
  if (!buf) return -ENOMEM;
  int p[2];
  long r = raw::sys(SYS_pipe2, p, O_CLOEXEC | O_NONBLOCK);
  if (r < 0) return *why = ": cannot make a pipe to copy its contents", int(r);
  // As many slots as the pipe has: tee() copies each buffer to one slot.
  r = raw::sys(SYS_fcntl, p[1], F_SETPIPE_SZ, size);
  if (r < 0) {
    *why = ": cannot make a pipe as large to copy its contents";
  } else {
    r = raw::sys(SYS_tee, reader, p[1], len, SPLICE_F_NONBLOCK);
    if (r >= 0 && uint64_t(r) != len) r = -EAGAIN;  // one tee() or none: a second would copy from the start
    if (r < 0) *why = ": cannot copy its contents (tee)";
    for (uint64_t got = 0; r >= 0 && got < len; got += uint64_t(r)) {
      r = raw::sys(SYS_read, p[0], buf + got, len - got);
      if (r == 0) r = -EIO;
      if (r < 0) *why = ": cannot read the copy of its contents";
    }
  }
  raw::sys(SYS_close, p[0]);
  raw::sys(SYS_close, p[1]);
  if (r < 0) return int(r);
  *data = buf;
  return 0;
}

// One pipe: v[0..n) are its fds, lowest first.
int capture_pipe(Scratch& s, ImageOut& out, const int* v, int n) {
  FdRec* reader = nullptr;
  bool written = false, packets = false;
  for (int i = 0; i < n; ++i) {
    FdRec& r = out.fds[v[i]];
    if (!reader && reads(r)) reader = &r;
    written |= writes(r);
    packets |= (r.flags & O_DIRECT) != 0;
  }
  if (!reader || !written) {
    for (int i = 0; i < n; ++i) {
      FdRec& r = out.fds[v[i]];
      if (r.fd <= 2)
        r.kind = FdKind::Stdio;
      else
        refuse(out, r, reads(r) ? ": a pipe whose write end is not in this process (not saved yet)"
                                : ": a pipe whose read end is not in this process (not saved yet)");
    }
    return 0;
  }
  FdRec& first = out.fds[v[0]];
  if (packets) return refuse(out, first, ": a pipe in packet mode (O_DIRECT, not saved yet)"), 0;
  long size = raw::sys(SYS_fcntl, reader->fd, F_GETPIPE_SZ);
  int avail = 0;
  long r = size < 0 ? size : raw::sys(SYS_ioctl, reader->fd, FIONREAD, &avail);
  if (r < 0) return refuse(out, first, ": cannot read the pipe's size or contents"), 0;
  char* data = nullptr;
  const char* why = "";
  if (avail > 0 && (r = copy_buffered(s, reader->fd, uint32_t(size), uint64_t(avail), &data, &why)) < 0) {
    if (r == -ENOMEM) return int(r);
    return refuse(out, first, why), 0;
  }
  for (int i = 0; i < n; ++i) {
    FdRec& p = out.fds[v[i]];
    p.kind = FdKind::Pipe;
    p.pipe_size = uint32_t(size);
    p.pipe_data = data;
    p.pipe_len = data ? uint64_t(avail) : 0;
    p.pipe_first = v[0];
  }
  return 0;
}

}  // namespace

int capture_pipes(Scratch& s, ImageOut& out) {
  int* v = s.take_array<int>(size_t(out.fd_count) + 1);
  if (!v) return -ENOMEM;
  int n = 0;
  for (int i = 0; i < out.fd_count; ++i)
    if (out.fds[i].kind == FdKind::Pipe && !out.fds[i].refused) v[n++] = i;
  sort_by_pipe(out, v, n);
  for (int a = 0, b; a < n; a = b) {
    for (b = a + 1; b < n && out.fds[v[b]].ino == out.fds[v[a]].ino;) ++b;
    int err = capture_pipe(s, out, v + a, b - a);
    if (err < 0) return err;
  }
  return 0;
}

int store_pipe_contents(ImageOut& out) {
  for (int i = 0; i < out.fd_count; ++i) {
    FdRec& r = out.fds[i];
    if (r.kind != FdKind::Pipe || r.pipe_first != i || r.pipe_len == 0) continue;
    int err = 0;
    if (!out_align(out, &err)) return -err;
    BlobRec& b = out.blobs[out.blob_count];
    b.offset = out.pos;
    b.size = r.pipe_len;
    b.hash = hash_bytes(r.pipe_data, r.pipe_len);
    if (!out_write(out, r.pipe_data, r.pipe_len, &err)) return -err;
    out.data_bytes += r.pipe_len;
    r.blob = out.blob_count++;
  }
  // Every fd of a pipe names its contents.
  for (int i = 0; i < out.fd_count; ++i)
    if (out.fds[i].kind == FdKind::Pipe && out.fds[i].pipe_first >= 0)
      out.fds[i].blob = out.fds[out.fds[i].pipe_first].blob;
  return 0;
}

}  // namespace vproc::lib
