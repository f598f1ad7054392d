/* The restore plan: what `vproc restore` (a normal C++ program that validated
 * the image) hands to vproc-restorer (a libc-free static binary that rebuilds
 * the address space and resumes the process). Plain C structs, no pointers:
 * the plan is read from a file descriptor into a buffer at any address.
 *
 * Division of labour (docs/checkpoint.md):
 *  - the tool validates the image and every referenced file, opens them, rebuilds
 *    the fd table at the original numbers, sets cwd/umask/rlimits/personality
 *    (all survive execve), registers the vpid with the daemon, writes the plan to
 *    a memfd and execs the restorer (same pid: the restored process is this one);
 *  - the restorer moves the kernel's vdso/vvar to the image's addresses, runs the
 *    mapping ops in order, sets mm fields (PR_SET_MM_MAP), signal dispositions and
 *    FS/GS base, then jumps to threads[0].resume with %rax = &restore_info (inside
 *    the plan buffer): that is libvproc's checkpoint handler, which finishes the
 *    job (rseq, robust list, tid address, timers, daemon) and unmaps the plan and
 *    the restorer.
 */
#ifndef VPROC_CKPT_RESTORE_PLAN_H
#define VPROC_CKPT_RESTORE_PLAN_H

#include <stdint.h>

#define VPROC_PLAN_MAGIC 0x4e414c5052435056ull /* "VPCRPLAN" */
#define VPROC_PLAN_VERSION 2u
#define VPROC_RESTORE_INFO_MAGIC 0x4f464e4952435056ull /* "VPCRINFO" */

/* vproc-restorer is linked (static, non-PIE) at this address; the range up to
 * BASE + SPAN belongs to it. An image with memory there cannot be restored
 * (the tool says so); processes never have memory there in practice: it is far
 * below the mmap area and far above any brk heap. */
#define VPROC_RESTORER_BASE 0x100000000000ull
#define VPROC_RESTORER_SPAN (64ull << 20)

/* argv of the restorer: vproc-restorer PLAN_FD (decimal). */

enum vproc_plan_op_kind {
  /* mmap(addr, len, prot, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE|flags) */
  VPROC_OP_MAP_ANON = 1,
  /* mmap(addr, len, prot, MAP_PRIVATE|MAP_FIXED_NOREPLACE|flags, fd, offset) */
  VPROC_OP_MAP_FILE = 2,
  /* mmap(addr, len, prot, MAP_SHARED|MAP_FIXED_NOREPLACE, fd, offset) (read-only) */
  VPROC_OP_MAP_SHARED_FILE = 3,
  /* mmap(addr, len, prot, MAP_PRIVATE|MAP_FIXED, fd, offset): image pages laid
   * over a range an earlier op mapped (lazy restore: faulted in on first use) */
  VPROC_OP_MAP_IMAGE = 4,
  /* pread(fd, addr, len, offset) until complete: image pages copied into a
   * range an earlier op mapped writable (eager restore) */
  VPROC_OP_READ_IMAGE = 5,
  /* mprotect(addr, len, prot): the final protection after READ_IMAGE ops */
  VPROC_OP_PROTECT = 6,
  /* close(fd) (addr, len 0): a descriptor of the tool's that does not fit in
   * close_fds[] (a process with many mapped files); at the end of the list */
  VPROC_OP_CLOSE = 7,
  /* fcntl(fd, F_SETFD, FD_CLOEXEC) (addr, len 0): one of the program's
   * descriptors that had O_CLOEXEC (it had to survive the exec of the
   * restorer); at the end of the list */
  VPROC_OP_SET_CLOEXEC = 8,
};

struct vproc_plan_op {
  uint32_t kind; /* vproc_plan_op_kind */
  uint32_t prot; /* PROT_* */
  uint32_t flags; /* extra mmap flags (MAP_GROWSDOWN for the main stack) */
  int32_t fd;
  uint64_t addr; /* page-aligned */
  uint64_t len;  /* page-aligned, > 0 (0 for CLOSE, SET_CLOEXEC) */
  uint64_t offset;
};

/* The checkpoint handler's callee-saved registers (System V x86-64 ABI). */
struct vproc_resume_regs {
  uint64_t rip, rsp, rbx, rbp, r12, r13, r14, r15;
};

struct vproc_plan_thread {
  uint64_t fs_base, gs_base;
  struct vproc_resume_regs resume;
};

struct vproc_plan_sigaction { /* the kernel's struct sigaction layout (rt_sigaction) */
  uint64_t handler, flags, restorer, mask;
};

/* Same fields and order as the kernel's struct prctl_mm_map, minus the
 * pointers (auxv is in the plan; exe_fd is always -1). */
struct vproc_plan_mm {
  uint64_t start_code, end_code, start_data, end_data;
  uint64_t start_brk, brk, start_stack;
  uint64_t arg_start, arg_end, env_start, env_end;
};

/* Written into the plan by the tool; the resumed handler reads it via %rax. */
struct vproc_restore_info {
  uint64_t magic; /* VPROC_RESTORE_INFO_MAGIC */
  uint64_t restorer_start, restorer_end; /* the restorer's mappings, to munmap */
  uint64_t plan_start, plan_end;         /* filled by the restorer: the plan buffer */
  int32_t image_fd; /* the image, open read-only; -1 when nothing is mapped from it */
  uint32_t flags;   /* VPROC_RESTORE_* */
  uint64_t image_dev, image_ino; /* so the next checkpoint recognises its mappings */
  uint32_t generation; /* restores this process has been through, this one included */
  int32_t exe_fd; /* the program's executable, for PR_SET_MM_EXE_FILE once the
                     restorer is unmapped (needs CAP_SYS_RESOURCE); -1: none */
  uint64_t migration; /* 0: a plain restore; else the migration that brings the
                         process here as a guest (docs/cluster.md): it waits for
                         the daemon's word (Resumed) before running on */
  char socket_path[108]; /* the daemon the tool registered with (""; the image's) */
};
#define VPROC_RESTORE_LAZY 1u /* some memory is mapped from the image file */
#define VPROC_RESTORE_LEASED 2u /* image_fd holds a read lease (release when populated) */

struct vproc_plan {
  uint64_t magic;     /* VPROC_PLAN_MAGIC */
  uint32_t version;   /* VPROC_PLAN_VERSION */
  uint32_t op_count;
  uint64_t total_size; /* bytes of the whole plan, this header included */
  uint64_t ops_offset; /* from the plan's start, 8-aligned */
  uint64_t auxv_offset, auxv_size; /* saved auxv bytes, from the plan's start */
  uint64_t hole_addr;  /* a free range of >= total_size bytes in the image's layout,
                          where the restorer may move the plan if it is in the way */
  /* Where [vvar], [vvar_vclock], [vdso] go (0: the image had none). The tool has
   * checked that the running kernel's sizes match; the restorer moves them as a
   * group keeping their relative layout. */
  uint64_t vvar_addr, vvar_size;
  uint64_t vvar_vclock_addr, vvar_vclock_size;
  uint64_t vdso_addr, vdso_size;
  struct vproc_plan_mm mm;
  struct vproc_plan_sigaction sigactions[64]; /* index = signo - 1; SIGKILL/SIGSTOP skipped */
  uint32_t thread_count; /* threads[0] is the main thread; only it is restored today */
  uint32_t reserved;
  struct vproc_plan_thread threads[1];
  uint64_t info_offset; /* struct vproc_restore_info, from the plan's start */
  int32_t close_fds[16]; /* fds the tool used (plan, files); closed before resuming; -1 = none */
};

#endif
