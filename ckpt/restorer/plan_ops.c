/* The mapping ops, in the plan's order, with exactly the semantics
 * restore_plan.h documents. Base mappings use MAP_FIXED_NOREPLACE: a range
 * that is already taken is a bug in the plan (or a collision with the
 * restorer), never something to overwrite silently (PITFALLS 1). Only
 * MAP_IMAGE replaces, and only pages an earlier op of the plan mapped. */
#include <asm/errno.h>
#include <linux/fcntl.h>

#include "out.h"
#include "restorer.h"
#include "sys.h"

static int overlaps(uint64_t a, uint64_t a_end, uint64_t b, uint64_t b_end) { return a < b_end && b < a_end; }

static void prot_text(struct rs_msg* m, uint32_t prot) {
  char t[4] = {prot & PROT_READ ? 'r' : '-', prot & PROT_WRITE ? 'w' : '-', prot & PROT_EXEC ? 'x' : '-', 0};
  rs_msg_str(m, t);
}

/* "cannot map A-B (what)" and the like, for op number I. */
static void describe(struct rs_msg* m, const struct vproc_plan_op* op) {
  uint64_t end = op->addr + op->len;
  switch (op->kind) {
    case VPROC_OP_READ_IMAGE:
      rs_msg_str(m, "cannot read image pages at offset ");
      rs_msg_hex(m, op->offset);
      rs_msg_str(m, " into ");
      rs_msg_hex(m, op->addr);
      rs_msg_str(m, "-");
      rs_msg_hex(m, end);
      return;
    case VPROC_OP_PROTECT:
      rs_msg_str(m, "cannot set the protection of ");
      rs_msg_hex(m, op->addr);
      rs_msg_str(m, "-");
      rs_msg_hex(m, end);
      rs_msg_str(m, " to ");
      prot_text(m, op->prot);
      return;
    case VPROC_OP_CLOSE:
      rs_msg_str(m, "cannot close fd ");
      rs_msg_dec(m, op->fd);
      return;
    case VPROC_OP_SET_CLOEXEC:
      rs_msg_str(m, "cannot set close-on-exec on fd ");
      rs_msg_dec(m, op->fd);
      return;
  }
  rs_msg_str(m, "cannot map ");
  rs_msg_hex(m, op->addr);
  rs_msg_str(m, "-");
  rs_msg_hex(m, end);
  rs_msg_str(m, " ");
  prot_text(m, op->prot);
  if (op->kind == VPROC_OP_MAP_ANON) {
    rs_msg_str(m, " (anonymous)");
    return;
  }
  rs_msg_str(m, op->kind == VPROC_OP_MAP_IMAGE ? " (image pages at offset "
                : op->kind == VPROC_OP_MAP_SHARED_FILE ? " (shared file, fd " : " (file, fd ");
  if (op->kind != VPROC_OP_MAP_IMAGE) {
    rs_msg_dec(m, op->fd);
    rs_msg_str(m, ", offset ");
  }
  rs_msg_hex(m, op->offset);
  rs_msg_str(m, ")");
}

__attribute__((noreturn)) static void op_failed(const struct vproc_plan_op* op, long err, const char* why) {
  struct rs_msg m;
  rs_msg_begin(&m);
  describe(&m, op);
  if (why) {
    rs_msg_str(&m, ": ");
    rs_msg_str(&m, why);
  } else {
    rs_msg_errno(&m, err);
  }
  rs_msg_die(&m);
}

static void map(const struct vproc_plan_op* op, int flags, int fd) {
  long r = rs_mmap(op->addr, op->len, (int)op->prot, flags, fd, op->offset);
  if (rs_failed(r)) op_failed(op, r, 0);
  /* Kernels before 4.17 ignore MAP_FIXED_NOREPLACE and treat addr as a hint. */
  if ((uint64_t)r != op->addr) {
    rs_sys2(__NR_munmap, r, op->len);
    op_failed(op, -EEXIST, 0);
  }
}

static void read_image(const struct vproc_plan_op* op) {
  uint64_t done = 0;
  while (done < op->len) {
    long n = rs_sys4(__NR_pread64, op->fd, op->addr + done, op->len - done, op->offset + done);
    if (n == -EINTR) continue;
    if (rs_failed(n)) op_failed(op, n, 0);
    if (n == 0) op_failed(op, 0, "the image file is shorter than the plan says");
    done += (uint64_t)n;
  }
}

static void check(const struct vproc_plan_op* op, uint64_t plan_lo, uint64_t plan_hi) {
  if (op->kind == VPROC_OP_CLOSE || op->kind == VPROC_OP_SET_CLOEXEC) return;
  uint64_t end = op->addr + op->len;
  if (op->addr % RS_PAGE || op->len % RS_PAGE || op->offset % RS_PAGE || !op->len || end < op->addr)
    op_failed(op, 0, "plan corrupted (range not page-aligned)");
  if (overlaps(op->addr, end, VPROC_RESTORER_BASE, VPROC_RESTORER_BASE + VPROC_RESTORER_SPAN))
    op_failed(op, 0, "the range belongs to the restorer");
  if (overlaps(op->addr, end, plan_lo, plan_hi)) op_failed(op, 0, "the range holds the restore plan");
}

void rs_run_ops(const struct vproc_plan* plan, uint64_t plan_lo, uint64_t plan_hi) {
  const struct vproc_plan_op* ops = (const struct vproc_plan_op*)((const char*)plan + plan->ops_offset);
  for (uint32_t i = 0; i < plan->op_count; ++i) {
    const struct vproc_plan_op* op = &ops[i];
    check(op, plan_lo, plan_hi);
    int extra = (int)op->flags;
    long r;
    switch (op->kind) {
      case VPROC_OP_MAP_ANON:
        map(op, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | extra, -1);
        break;
      case VPROC_OP_MAP_FILE:
        map(op, MAP_PRIVATE | MAP_FIXED_NOREPLACE | extra, op->fd);
        break;
      case VPROC_OP_MAP_SHARED_FILE:
        map(op, MAP_SHARED | MAP_FIXED_NOREPLACE | extra, op->fd);
        break;
      case VPROC_OP_MAP_IMAGE:
        map(op, MAP_PRIVATE | MAP_FIXED, op->fd);
        break;
      case VPROC_OP_READ_IMAGE:
        read_image(op);
        break;
      case VPROC_OP_PROTECT:
        r = rs_sys3(__NR_mprotect, op->addr, op->len, op->prot);
        if (rs_failed(r)) op_failed(op, r, 0);
        break;
      case VPROC_OP_CLOSE:
        r = rs_sys1(__NR_close, op->fd);
        if (rs_failed(r) && r != -EINTR) op_failed(op, r, 0);
        break;
      case VPROC_OP_SET_CLOEXEC:
        r = rs_sys3(__NR_fcntl, op->fd, F_SETFD, FD_CLOEXEC);
        if (rs_failed(r)) op_failed(op, r, 0);
        break;
      default:
        op_failed(op, 0, "plan corrupted (unknown op)");
    }
  }
}
