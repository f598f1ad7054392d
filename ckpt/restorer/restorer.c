/* vproc-restorer PLAN_FD: turns this process (exec'd by `vproc restore`, with
 * every signal blocked and the fd table already rebuilt) into the
 * checkpointed one, then jumps into its checkpoint handler.
 *
 * The restorer owns [VPROC_RESTORER_BASE, +SPAN): its code, data and stack
 * (in .bss) live there, and nothing of the image may (the tool checks). It
 * has no libc, no TLS, no rseq, no stack protector and no relocations
 * (PITFALLS 1, 2): nothing of its own sits where the image's memory goes
 * except what it removes or moves first. The steps, in order:
 *   1. read the plan's header (onto our stack);
 *   2. unmap the stack the kernel built for execve; park [vvar]/[vdso];
 *   3. map the plan buffer at plan->hole_addr (free in the image's layout);
 *   4. move [vvar]/[vvar_vclock]/[vdso] to the image's addresses;
 *   5. run the ops; PR_SET_MM_MAP; signal dispositions; close the tool's fds;
 *   6. fill the restore info, set FS/GS base, load the registers, jump.
 * Any failure ends the process with a message and status 1: past step 2
 * there is nothing to go back to. */
#include <asm/errno.h>

#include "out.h"
#include "restorer.h"
#include "sys.h"

/* No libc, but the compiler may still emit calls to these for struct copies. */
void* memset(void* d, int c, unsigned long n) {
  unsigned char* p = d;
  while (n--) *p++ = (unsigned char)c;
  return d;
}
void* memcpy(void* d, const void* s, unsigned long n) {
  unsigned char* p = d;
  const unsigned char* q = s;
  while (n--) *p++ = *q++;
  return d;
}

/* A plan is at most this big (a few million ops). */
#define RS_MAX_PLAN (1ull << 30)

static int parse_fd(const char* s) {
  long v = 0;
  if (!*s) return -1;
  for (; *s; ++s) {
    if (*s < '0' || *s > '9' || v > 1000000) return -1;
    v = v * 10 + (*s - '0');
  }
  return (int)v;
}

static void read_exact(int fd, void* buf, uint64_t len, const char* what) {
  uint64_t done = 0;
  while (done < len) {
    long n = rs_sys4(__NR_pread64, fd, (char*)buf + done, len - done, done);
    if (n == -EINTR) continue;
    if (n <= 0) {
      struct rs_msg m;
      rs_msg_begin(&m);
      rs_msg_str(&m, "cannot read the ");
      rs_msg_str(&m, what);
      if (n == 0) rs_msg_str(&m, ": the plan is truncated");
      else rs_msg_errno(&m, n);
      rs_msg_die(&m);
    }
    done += (uint64_t)n;
  }
}

static int within(uint64_t off, uint64_t len, uint64_t total) { return off <= total && len <= total - off; }

/* Everything the steps below rely on, checked on the final copy. */
static void validate(const struct vproc_plan* p, uint64_t total) {
  if (p->magic != VPROC_PLAN_MAGIC) rs_die("PLAN_FD does not hold a restore plan (bad magic)");
  if (p->version != VPROC_PLAN_VERSION) rs_die("the restore plan's version differs from this restorer's");
  if (p->total_size != total || total < sizeof *p) rs_die("plan corrupted (size)");
  if (p->ops_offset % 8 || p->op_count > (total / sizeof(struct vproc_plan_op)) ||
      !within(p->ops_offset, (uint64_t)p->op_count * sizeof(struct vproc_plan_op), total))
    rs_die("plan corrupted (ops outside the plan)");
  if (!within(p->auxv_offset, p->auxv_size, total) || p->auxv_size > 4096)
    rs_die("plan corrupted (auxv outside the plan)");
  if (p->info_offset % 8 || !within(p->info_offset, sizeof(struct vproc_restore_info), total))
    rs_die("plan corrupted (restore info outside the plan)");
  if (p->thread_count < 1) rs_die("plan corrupted (no thread)");
}

static void set_mm(const struct vproc_plan* p) {
  struct prctl_mm_map map = {
      .start_code = p->mm.start_code, .end_code = p->mm.end_code,
      .start_data = p->mm.start_data, .end_data = p->mm.end_data,
      .start_brk = p->mm.start_brk,   .brk = p->mm.brk,
      .start_stack = p->mm.start_stack,
      .arg_start = p->mm.arg_start,   .arg_end = p->mm.arg_end,
      .env_start = p->mm.env_start,   .env_end = p->mm.env_end,
      .auxv = (__u64*)((char*)p + p->auxv_offset),
      .auxv_size = (__u32)p->auxv_size,
      .exe_fd = (__u32)-1,
  };
  /* Needs no privilege (only exe_fd would). The kernel's brk must become
   * exactly the saved one: glibc caches it in __curbrk (PITFALLS 5). A failure
   * is fatal: a wrong break makes the next sbrk hand out memory the kernel
   * never gave, and there is no older state to fall back to. */
  long r = rs_sys5(__NR_prctl, PR_SET_MM, PR_SET_MM_MAP, &map, sizeof map, 0);
  if (rs_failed(r)) {
    struct rs_msg m;
    rs_msg_begin(&m);
    rs_msg_str(&m, "cannot set the memory layout (prctl PR_SET_MM_MAP: brk ");
    rs_msg_hex(&m, p->mm.brk);
    rs_msg_str(&m, ", stack ");
    rs_msg_hex(&m, p->mm.start_stack);
    rs_msg_str(&m, ")");
    rs_msg_errno(&m, r);
    if (r == -EINVAL)
      rs_msg_str(&m, " (is RLIMIT_DATA smaller than the heap and data, or the kernel built without"
                     " CONFIG_CHECKPOINT_RESTORE?)");
    rs_msg_die(&m);
  }
}

static void set_sigactions(const struct vproc_plan* p) {
  for (int signo = 1; signo <= 64; ++signo) {
    if (signo == 9 || signo == 19) continue; /* SIGKILL, SIGSTOP: fixed */
    /* vproc_plan_sigaction is the kernel's struct sigaction: handler, flags,
     * restorer (glibc's __restore_rt, SA_RESTORER set), mask. */
    long r = rs_sys4(__NR_rt_sigaction, signo, &p->sigactions[signo - 1], 0, 8);
    if (rs_failed(r)) {
      struct rs_msg m;
      rs_msg_begin(&m);
      rs_msg_str(&m, "cannot restore the action of signal ");
      rs_msg_dec(&m, signo);
      rs_msg_errno(&m, r);
      rs_msg_die(&m);
    }
  }
}

static void set_fs_gs(const struct vproc_plan_thread* t) {
  long r = rs_sys2(__NR_arch_prctl, ARCH_SET_FS, t->fs_base);
  if (!rs_failed(r) && t->gs_base) r = rs_sys2(__NR_arch_prctl, ARCH_SET_GS, t->gs_base);
  if (rs_failed(r)) {
    struct rs_msg m;
    rs_msg_begin(&m);
    rs_msg_str(&m, "cannot set the thread pointer");
    rs_msg_errno(&m, r);
    rs_msg_die(&m);
  }
}

void rs_main(long argc, char** argv, uint64_t initial_sp) {
  (void)initial_sp;
  if (argc != 2) rs_die("usage: vproc-restorer PLAN_FD (it is run by 'vproc restore')");
  int fd = parse_fd(argv[1]);
  if (fd < 0) rs_die("PLAN_FD must be a descriptor number");

  /* 1. The header: sizes, addresses of the kernel mappings, the hole. */
  static struct vproc_plan head; /* .bss: our range */
  read_exact(fd, &head, sizeof head, "restore plan");
  if (head.magic != VPROC_PLAN_MAGIC) rs_die("PLAN_FD does not hold a restore plan (bad magic)");
  if (head.total_size < sizeof head || head.total_size > RS_MAX_PLAN) rs_die("plan corrupted (size)");
  uint64_t plan_lo = head.hole_addr, plan_len = rs_page_up(head.total_size), plan_hi = plan_lo + plan_len;
  if (plan_lo % RS_PAGE || !plan_lo || plan_hi < plan_lo) rs_die("plan corrupted (hole address)");

  /* 2. What the kernel gave us. argv lives on the stack: not used after this. */
  struct rs_self_maps self;
  long r = rs_read_self_maps(&self);
  if (rs_failed(r)) {
    struct rs_msg m;
    rs_msg_begin(&m);
    rs_msg_str(&m, "cannot read /proc/self/maps");
    rs_msg_errno(&m, r);
    rs_msg_die(&m);
  }
  if (!self.stack.end) rs_die("no [stack] in /proc/self/maps");
  r = rs_sys2(__NR_munmap, self.stack.start, self.stack.end - self.stack.start);
  if (rs_failed(r)) rs_die("cannot unmap the initial stack");
  rs_park_kernel_maps(&head, &self);

  /* 3. Only our range (and [vsyscall]) is mapped now: the plan's hole is free. */
  long got = rs_mmap(plan_lo, plan_len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if ((uint64_t)got != plan_lo) {
    struct rs_msg m;
    rs_msg_begin(&m);
    rs_msg_str(&m, "cannot map the restore plan at ");
    rs_msg_hex(&m, plan_lo);
    rs_msg_errno(&m, rs_failed(got) ? got : -EEXIST);
    rs_msg_die(&m);
  }
  struct vproc_plan* plan = (struct vproc_plan*)plan_lo;
  read_exact(fd, plan, head.total_size, "restore plan");
  validate(plan, head.total_size);

  /* 4, 5. */
  rs_place_kernel_maps();
  rs_run_ops(plan, plan_lo, plan_hi);
  set_mm(plan);
  set_sigactions(plan);
  for (int i = 0; i < 16; ++i)
    if (plan->close_fds[i] >= 0) rs_sys1(__NR_close, plan->close_fds[i]);

  /* 6. The handler unmaps the plan and our range once it is done. */
  struct vproc_restore_info* info = (struct vproc_restore_info*)(plan_lo + plan->info_offset);
  info->plan_start = plan_lo;
  info->plan_end = plan_hi;
  info->restorer_start = VPROC_RESTORER_BASE;
  info->restorer_end = VPROC_RESTORER_BASE + VPROC_RESTORER_SPAN;
  set_fs_gs(&plan->threads[0]);
  rs_resume(&plan->threads[0].resume, info);
}
