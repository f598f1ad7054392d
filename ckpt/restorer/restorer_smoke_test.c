/* restorer_smoke_test RESTORER: runs vproc-restorer on hand-made plans,
 * without any checkpoint image. The "image" is a temporary file holding the
 * code of smoke_blob.S, a data page, a page mapped lazily and the top of a
 * stack; the plan maps them with every op kind, moves the vdso group, sets
 * mm fields, one signal action, FS, closes one fd and marks one close-on-exec,
 * and resumes the blob, which checks what it can see and prints
 * /proc/self/maps and cmdline for the checks here.
 * Then three bad plans, each refused with its message and status 1. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "restore_plan.h"

extern const char smoke_blob_start[], smoke_blob_end[];

#define CODE 0x300000000000ull
#define DATA (CODE + 0x1000)
#define LAZY (CODE + 0x2000)
#define RESERVED (CODE + 0x3000)
#define STACK (CODE + 0x10000)
#define STACK_TOP_PAGE (STACK + 0x3000)
#define BRK (CODE + 0x100000)
#define KERNEL_MAPS 0x310000000000ull
#define HOLE 0x320000000000ull
#define PLAN_FD 1000
#define IMAGE_FD 1001
#define EXTRA_FD 1002
#define CLOEXEC_FD 1003
static const char kArgs[] = "smoke\0--flag"; /* with its final NUL: 13 bytes */

static int failures;
#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (!(cond)) {                                              \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);      \
      fprintf(stderr, __VA_ARGS__);                             \
      fputc('\n', stderr);                                      \
      ++failures;                                               \
    }                                                           \
  } while (0)

struct kmaps { uint64_t start[3], end[3]; };

static void read_kernel_maps(struct kmaps* k) {
  memset(k, 0, sizeof *k);
  FILE* f = fopen("/proc/self/maps", "r");
  char line[512];
  while (fgets(line, sizeof line, f)) {
    unsigned long s, e;
    int i = strstr(line, "[vvar]") ? 0 : strstr(line, "[vvar_vclock]") ? 1 : strstr(line, "[vdso]") ? 2 : -1;
    if (i >= 0 && sscanf(line, "%lx-%lx", &s, &e) == 2) k->start[i] = s, k->end[i] = e;
  }
  fclose(f);
}

struct plan_buf { char* p; size_t len; uint32_t ops; };

static void add_op(struct plan_buf* b, uint32_t kind, uint64_t addr, uint64_t len, uint32_t prot, uint32_t flags,
                   int fd, uint64_t off) {
  struct vproc_plan_op op = {kind, prot, flags, fd, addr, len, off};
  b->p = realloc(b->p, b->len + sizeof op);
  memcpy(b->p + b->len, &op, sizeof op);
  b->len += sizeof op;
  b->ops++;
}

/* The good plan; `bad` spoils it in one of three ways (1, 2, 3). */
static struct plan_buf make_plan(int bad) {
  struct plan_buf b = {calloc(1, 4096), 0, 0};
  struct vproc_plan* h = (struct vproc_plan*)b.p;
  h->magic = bad == 1 ? 42 : VPROC_PLAN_MAGIC;
  h->version = VPROC_PLAN_VERSION;
  h->hole_addr = HOLE;
  h->info_offset = sizeof *h;
  struct vproc_restore_info* info = (struct vproc_restore_info*)(b.p + h->info_offset);
  info->magic = VPROC_RESTORE_INFO_MAGIC;
  info->image_fd = IMAGE_FD;
  info->flags = VPROC_RESTORE_LAZY;
  h->auxv_offset = h->info_offset + sizeof *info;
  int afd = open("/proc/self/auxv", O_RDONLY);
  h->auxv_size = read(afd, b.p + h->auxv_offset, 1024);
  close(afd);
  h->ops_offset = (h->auxv_offset + h->auxv_size + 7) & ~7ull;
  b.len = h->ops_offset;

  struct kmaps k;
  read_kernel_maps(&k);
  uint64_t lo = k.start[0];
  uint64_t* addr[3] = {&h->vvar_addr, &h->vvar_vclock_addr, &h->vdso_addr};
  uint64_t* size[3] = {&h->vvar_size, &h->vvar_vclock_size, &h->vdso_size};
  for (int i = 0; i < 3; ++i)
    if (k.end[i]) {
      *addr[i] = KERNEL_MAPS + (k.start[i] - lo);
      *size[i] = k.end[i] - k.start[i];
    }

  h->mm = (struct vproc_plan_mm){CODE, CODE + 0x1000, DATA, DATA + 0x1000, BRK, BRK, STACK_TOP_PAGE + 0x100,
                                 STACK_TOP_PAGE, STACK_TOP_PAGE + sizeof kArgs, STACK_TOP_PAGE + sizeof kArgs,
                                 STACK_TOP_PAGE + sizeof kArgs};
  h->sigactions[SIGUSR1 - 1] = (struct vproc_plan_sigaction){CODE + 0x800, 0x14000000, CODE + 0x900, 0};
  h->thread_count = 1;
  h->threads[0] = (struct vproc_plan_thread){DATA + 0x800, 0, {CODE, STACK_TOP_PAGE, 0x1111, 0x2222, DATA, 0x3333,
                                                               0x4444, 0x5555}};
  for (int i = 0; i < 16; ++i) h->close_fds[i] = -1;
  h->close_fds[0] = PLAN_FD;

  const int rw = PROT_READ | PROT_WRITE;
  add_op(&b, VPROC_OP_MAP_ANON, CODE, 0x1000, rw, 0, -1, 0);
  add_op(&b, VPROC_OP_READ_IMAGE, CODE, 0x1000, 0, 0, IMAGE_FD, 0);
  add_op(&b, VPROC_OP_PROTECT, CODE, 0x1000, PROT_READ | PROT_EXEC, 0, -1, 0);
  add_op(&b, VPROC_OP_MAP_ANON, DATA, 0x1000, rw, 0, -1, 0);
  add_op(&b, VPROC_OP_READ_IMAGE, DATA, 0x1000, 0, 0, IMAGE_FD, 0x1000);
  add_op(&b, VPROC_OP_MAP_ANON, LAZY, 0x1000, PROT_READ, 0, -1, 0);
  add_op(&b, VPROC_OP_MAP_IMAGE, LAZY, 0x1000, PROT_READ, 0, IMAGE_FD, 0x2000);
  add_op(&b, VPROC_OP_MAP_ANON, RESERVED, 0x1000, PROT_NONE, MAP_NORESERVE, -1, 0);
  add_op(&b, VPROC_OP_MAP_ANON, STACK, 0x4000, rw, MAP_GROWSDOWN, -1, 0);
  add_op(&b, VPROC_OP_READ_IMAGE, STACK_TOP_PAGE, 0x1000, 0, 0, IMAGE_FD, 0x3000);
  if (bad == 2) add_op(&b, VPROC_OP_MAP_ANON, DATA, 0x1000, rw, 0, -1, 0);
  if (bad == 3) add_op(&b, VPROC_OP_MAP_ANON, VPROC_RESTORER_BASE + 0x100000, 0x1000, rw, 0, -1, 0);
  add_op(&b, VPROC_OP_CLOSE, 0, 0, 0, 0, EXTRA_FD, 0);
  add_op(&b, VPROC_OP_SET_CLOEXEC, 0, 0, 0, 0, CLOEXEC_FD, 0);
  h = (struct vproc_plan*)b.p;
  h->op_count = b.ops;
  h->total_size = b.len;
  return b;
}

static void write_image(int fd, uint64_t info_addr) {
  static char pages[4][4096];
  size_t blob = smoke_blob_end - smoke_blob_start;
  memcpy(pages[0], smoke_blob_start, blob);
  uint64_t* d = (uint64_t*)pages[1];
  const uint64_t expect[] = {0x1122334455667788, 0x1111, 0x2222, 0x3333, 0x4444, 0x5555, STACK_TOP_PAGE, info_addr,
                             DATA + 0x800, BRK, PLAN_FD, EXTRA_FD, CODE + 0x800, LAZY, 0xdeadbeefcafef00d};
  memcpy(d, expect, sizeof expect);
  d[16] = CLOEXEC_FD;
  d[15] = VPROC_RESTORE_INFO_MAGIC;
  strcpy(pages[1] + 256, "/proc/self/maps");
  strcpy(pages[1] + 288, "/proc/self/cmdline");
  strcpy(pages[1] + 320, "---\n");
  strcpy(pages[1] + 336, "\nRESTORED-OK\n");
  *(uint64_t*)pages[2] = 0xdeadbeefcafef00d;
  memcpy(pages[3], kArgs, sizeof kArgs);
  if (pwrite(fd, pages, sizeof pages, 0) != sizeof pages) abort();
}

/* Runs the restorer on plan B; returns the exit status, output in OUT (its
 * length in *OUT_LEN: it holds the NULs of cmdline) and ERR. */
static int run(const char* restorer, struct plan_buf* b, int image_fd, char* out, size_t cap, size_t* out_len,
               char* err) {
  int plan = memfd_create("plan", 0);
  if (write(plan, b->p, b->len) != (ssize_t)b->len) abort();
  int po[2], pe[2];
  if (pipe(po) || pipe(pe)) abort();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(po[1], 1);
    dup2(pe[1], 2);
    dup2(plan, PLAN_FD);
    dup2(image_fd, IMAGE_FD);
    dup2(0, EXTRA_FD);
    dup2(0, CLOEXEC_FD);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    execl(restorer, "vproc-restorer", "1000", (char*)NULL);
    _exit(127);
  }
  close(po[1]);
  close(pe[1]);
  close(plan);
  size_t n = 0;
  ssize_t r;
  while (n + 1 < cap && (r = read(po[0], out + n, cap - 1 - n)) > 0) n += r;
  out[n] = 0;
  *out_len = n;
  n = 0;
  while (n + 1 < 4096 && (r = read(pe[0], err + n, 4095 - n)) > 0) n += r;
  err[n] = 0;
  close(po[0]);
  close(pe[0]);
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int has_line(const char* text, uint64_t start, const char* suffix) {
  char prefix[32];
  snprintf(prefix, sizeof prefix, "%lx-", (unsigned long)start);
  for (const char* l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    const char* eol = strchr(l, '\n');
    size_t len = eol ? (size_t)(eol - l) : strlen(l);
    if (strncmp(l, prefix, strlen(prefix)) == 0 && len >= strlen(suffix) &&
        strncmp(l + len - strlen(suffix), suffix, strlen(suffix)) == 0)
      return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s VPROC_RESTORER\n", argv[0]);
    return 2;
  }
  char path[] = "/tmp/vproc-smoke-image-XXXXXX";
  int image = mkstemp(path);
  unlink(path);
  static char out[1 << 16], err[4096];

  struct plan_buf good = make_plan(0);
  write_image(image, HOLE + ((struct vproc_plan*)good.p)->info_offset);
  size_t len;
  int st = run(argv[1], &good, image, out, sizeof out, &len, err);
  CHECK(st == 0, "restore exited with %d (blob check %d failed?), stderr: %s", st, st, err);
  CHECK(memmem(out, len, "RESTORED-OK", 11), "no RESTORED-OK in output:\n%s", out);
  struct kmaps k;
  read_kernel_maps(&k);
  if (k.end[2]) CHECK(has_line(out, KERNEL_MAPS + (k.start[2] - k.start[0]), "[vdso]"), "[vdso] not moved:\n%s", out);
  if (k.end[0]) CHECK(has_line(out, KERNEL_MAPS, "[vvar]"), "[vvar] not moved:\n%s", out);
  CHECK(has_line(out, STACK, "[stack]"), "the stack is not [stack]:\n%s", out);
  const char* cmd = strstr(out, "---\n");
  CHECK(cmd && memcmp(cmd + 4, kArgs, sizeof kArgs) == 0, "cmdline is not 'smoke --flag'");

  struct { int bad; const char* msg; } bad[] = {
      {1, "vproc-restorer: PLAN_FD does not hold a restore plan (bad magic)\n"},
      {2, "(anonymous): File exists\n"},
      {3, "(anonymous): the range belongs to the restorer\n"},
  };
  for (int i = 0; i < 3; ++i) {
    struct plan_buf b = make_plan(bad[i].bad);
    st = run(argv[1], &b, image, out, sizeof out, &len, err);
    fprintf(stderr, "bad plan %d: %s", bad[i].bad, err);
    CHECK(st == 1, "bad plan %d: exit status %d", bad[i].bad, st);
    CHECK(strstr(err, bad[i].msg), "bad plan %d: stderr is '%s', expected '%s'", bad[i].bad, err, bad[i].msg);
    free(b.p);
  }
  printf("%s\n", failures ? "restorer smoke test FAILED" : "restorer smoke test passed");
  return failures ? 1 : 0;
}
