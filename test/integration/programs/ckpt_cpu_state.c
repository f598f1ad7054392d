/* What a checkpoint taken from outside, while the program computes (not in a
 * libc call), must give back after `vproc restore` (test ckpt_cpu_state.sh):
 *
 *  - the registers of the interrupted code: one asm block loads distinct
 *    values into ymm0-15, rbx, r8-r15, a non-default MXCSR (round down) and
 *    x87 control word (truncate), then spins on general registers only until
 *    the SIGUSR1 handler sets a flag (the script sends SIGUSR1 after the
 *    restore), and only then stores them all. Nothing else runs in between,
 *    so the checkpoint signal lands in that loop (spin_with_vector_state,
 *    which the script looks for at the top of the image's backtrace), and
 *    only the kernel's rt_sigreturn on the restored frame can bring them back.
 *  - what the kernel keeps per task and glibc caches (FS base and TLS, errno,
 *    the tid in the thread descriptor, rseq, robust list, clear_child_tid),
 *    per process (signal mask, sigaltstack, interval timer, umask, cwd,
 *    rlimit, brk, argv/environ areas, thread name) and the fd table (append
 *    mode, offsets, a deleted file, devices, a shared open file description).
 *
 *   ckpt_cpu_state [--expect-restore]
 *
 * Prints "looping" before the loop, then one "ok NAME" or "FAIL NAME: why"
 * per check; exit status 0 only if all passed, 77 without AVX. The same
 * natively (SIGUSR1 during the loop, no checkpoint) and restored. With
 * --expect-restore the kernel's ids must have changed and vproc's
 * vproc_at_restore callback must have run once; without it, nothing changed.
 * The restore callback writes "restored" to stderr, so the script knows when
 * the restored process is itself again. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/prctl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef ARCH_GET_FS
#define ARCH_GET_FS 0x1003
#endif

static int failures;

/* One check: "ok NAME", or "FAIL NAME: why" (printf-style). */
static void report(const char* name, int ok, const char* fmt, ...) {
  if (ok) {
    printf("ok %s\n", name);
    return;
  }
  failures++;
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  printf("FAIL %s: %s\n", name, why);
}

/* The kernel's own answer, past libc and libvproc (which answer with
 * virtual ids under vproc). */
static long raw_syscall(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return ret;
}
static long real_tid(void) { return raw_syscall(SYS_gettid, 0, 0, 0); }
static long real_pid(void) { return raw_syscall(SYS_getpid, 0, 0, 0); }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);  /* SIGALRM may cut it short: callers loop */
}

/* --- The loop -------------------------------------------------------------- */

/* Fixed offsets: the asm below addresses the fields by number. */
struct spin_state {
  uint8_t ymm_in[16][32];   /* 0 */
  uint8_t ymm_out[16][32];  /* 512 */
  uint64_t gpr_in[9];       /* 1024: rbx r8 r9 r10 r11 r12 r13 r14 r15 */
  uint64_t gpr_out[9];      /* 1096 */
  uint64_t step;            /* 1168: each iteration adds it to rax, takes it from rdx */
  uint64_t up, down, count; /* 1176 1184 1192: rax, rdx, rsi at the end */
  uint32_t mxcsr_test;      /* 1200 */
  uint32_t mxcsr_out;       /* 1204 */
  uint32_t mxcsr_saved;     /* 1208 */
  uint16_t fcw_test;        /* 1212 */
  uint16_t fcw_out;         /* 1214 */
  uint16_t fcw_saved;       /* 1216 */
  double probe;             /* 1224: converted under the test rounding modes */
  int64_t cvt_sse;          /* 1232 */
  int64_t cvt_x87;          /* 1240 */
} __attribute__((aligned(32)));
_Static_assert(offsetof(struct spin_state, ymm_out) == 512, "layout");
_Static_assert(offsetof(struct spin_state, gpr_in) == 1024, "layout");
_Static_assert(offsetof(struct spin_state, gpr_out) == 1096, "layout");
_Static_assert(offsetof(struct spin_state, step) == 1168, "layout");
_Static_assert(offsetof(struct spin_state, count) == 1192, "layout");
_Static_assert(offsetof(struct spin_state, mxcsr_test) == 1200, "layout");
_Static_assert(offsetof(struct spin_state, fcw_saved) == 1216, "layout");
_Static_assert(offsetof(struct spin_state, probe) == 1224, "layout");
_Static_assert(offsetof(struct spin_state, cvt_x87) == 1240, "layout");

static volatile sig_atomic_t usr1_flag;

#define LOADY(n, off) "vmovdqu " #off "(%[s]), %%ymm" #n "\n\t"
#define STOREY(n, off) "vmovdqu %%ymm" #n ", " #off "(%[s])\n\t"

/* Not static and never inlined: the image's backtrace names it. */
__attribute__((noinline)) void spin_with_vector_state(struct spin_state* s) {
  __asm__ volatile(
      LOADY(0, 0) LOADY(1, 32) LOADY(2, 64) LOADY(3, 96) LOADY(4, 128) LOADY(5, 160) LOADY(6, 192)
      LOADY(7, 224) LOADY(8, 256) LOADY(9, 288) LOADY(10, 320) LOADY(11, 352) LOADY(12, 384)
      LOADY(13, 416) LOADY(14, 448) LOADY(15, 480)
      "movq 1024(%[s]), %%rbx\n\t"
      "movq 1032(%[s]), %%r8\n\t"
      "movq 1040(%[s]), %%r9\n\t"
      "movq 1048(%[s]), %%r10\n\t"
      "movq 1056(%[s]), %%r11\n\t"
      "movq 1064(%[s]), %%r12\n\t"
      "movq 1072(%[s]), %%r13\n\t"
      "movq 1080(%[s]), %%r14\n\t"
      "movq 1088(%[s]), %%r15\n\t"
      "stmxcsr 1208(%[s])\n\t"
      "fnstcw 1216(%[s])\n\t"
      "ldmxcsr 1200(%[s])\n\t"
      "fldcw 1212(%[s])\n\t"
      "movq 1168(%[s]), %%rcx\n\t"
      "xorl %%eax, %%eax\n\t"
      "xorl %%edx, %%edx\n\t"
      "xorl %%esi, %%esi\n\t"
      "1:\n\t"
      "addq %%rcx, %%rax\n\t"
      "subq %%rcx, %%rdx\n\t"
      "incq %%rsi\n\t"
      "cmpl $0, %[flag]\n\t"
      "je 1b\n\t"
      "movq %%rax, 1176(%[s])\n\t"
      "movq %%rdx, 1184(%[s])\n\t"
      "movq %%rsi, 1192(%[s])\n\t"
      STOREY(0, 512) STOREY(1, 544) STOREY(2, 576) STOREY(3, 608) STOREY(4, 640) STOREY(5, 672)
      STOREY(6, 704) STOREY(7, 736) STOREY(8, 768) STOREY(9, 800) STOREY(10, 832) STOREY(11, 864)
      STOREY(12, 896) STOREY(13, 928) STOREY(14, 960) STOREY(15, 992)
      "movq %%rbx, 1096(%[s])\n\t"
      "movq %%r8, 1104(%[s])\n\t"
      "movq %%r9, 1112(%[s])\n\t"
      "movq %%r10, 1120(%[s])\n\t"
      "movq %%r11, 1128(%[s])\n\t"
      "movq %%r12, 1136(%[s])\n\t"
      "movq %%r13, 1144(%[s])\n\t"
      "movq %%r14, 1152(%[s])\n\t"
      "movq %%r15, 1160(%[s])\n\t"
      "stmxcsr 1204(%[s])\n\t"
      "fnstcw 1214(%[s])\n\t"
      /* The modes must still work, not only read back. */
      "cvtsd2si 1224(%[s]), %%rax\n\t"
      "movq %%rax, 1232(%[s])\n\t"
      "fldl 1224(%[s])\n\t"
      "fistpll 1240(%[s])\n\t"
      "ldmxcsr 1208(%[s])\n\t"
      "fldcw 1216(%[s])\n\t"
      "vzeroupper\n\t"
      :
      : [s] "r"(s), [flag] "m"(usr1_flag)
      : "rax", "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
        "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
}

static const uint32_t kMxcsr = 0x3F80; /* all exceptions masked, round down */
static const uint16_t kFcw = 0x0F7F;   /* all exceptions masked, 64-bit, truncate */
static const double kProbe = -2.7;     /* down: -3, truncate: -2, nearest: -3/-3 */

static void fill_spin_state(struct spin_state* s) {
  memset(s, 0, sizeof *s);
  for (int r = 0; r < 16; ++r)
    for (int b = 0; b < 32; ++b) s->ymm_in[r][b] = (uint8_t)(r * 37 + b * 11 + 0x5a + (b >= 16 ? 0x80 : 0));
  for (int i = 0; i < 9; ++i) s->gpr_in[i] = 0x0123456789abcdefull * (uint64_t)(i + 3) ^ ((uint64_t)i << 56);
  s->step = 0x9e3779b97f4a7c15ull;
  s->mxcsr_test = kMxcsr;
  s->fcw_test = kFcw;
  s->probe = kProbe;
}

static void check_spin_state(const struct spin_state* s) {
  int bad = -1;
  for (int r = 0; r < 16 && bad < 0; ++r)
    if (memcmp(s->ymm_in[r], s->ymm_out[r], 32) != 0) bad = r;
  if (bad >= 0) {
    int lo = memcmp(s->ymm_in[bad], s->ymm_out[bad], 16) != 0, hi = memcmp(s->ymm_in[bad] + 16, s->ymm_out[bad] + 16, 16) != 0;
    report("ymm", 0, "ymm%d differs (%s%s%s), e.g. byte 0 %02x -> %02x, byte 31 %02x -> %02x", bad, lo ? "low half" : "",
           lo && hi ? " and " : "", hi ? "upper half" : "", s->ymm_in[bad][0], s->ymm_out[bad][0], s->ymm_in[bad][31],
           s->ymm_out[bad][31]);
  } else {
    report("ymm", 1, "");
  }
  static const char* const names[9] = {"rbx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};
  bad = -1;
  for (int i = 0; i < 9 && bad < 0; ++i)
    if (s->gpr_in[i] != s->gpr_out[i]) bad = i;
  if (bad >= 0)
    report("gpr", 0, "%s was %#llx, is %#llx", names[bad], (unsigned long long)s->gpr_in[bad],
           (unsigned long long)s->gpr_out[bad]);
  else
    report("gpr", 1, "");
  uint64_t want = s->count * s->step;
  report("loop_counters", s->count > 0 && s->up == want && s->down == (uint64_t)0 - want,
         "after %llu iterations rax %#llx (want %#llx), rdx %#llx (want %#llx)", (unsigned long long)s->count,
         (unsigned long long)s->up, (unsigned long long)want, (unsigned long long)s->down,
         (unsigned long long)((uint64_t)0 - want));
  report("mxcsr", (s->mxcsr_out & ~0x3Fu) == kMxcsr && s->cvt_sse == -3 && s->mxcsr_saved == 0x1F80,
         "MXCSR %#x (want %#x, exception flags aside), cvtsd2si(-2.7) = %lld (want -3 under round-down); "
         "before the loop it was %#x",
         s->mxcsr_out, kMxcsr, (long long)s->cvt_sse, s->mxcsr_saved);
  report("x87_cw", s->fcw_out == kFcw && s->cvt_x87 == -2, "FCW %#x (want %#x), fistp(-2.7) = %lld (want -2 under truncate)",
         s->fcw_out, kFcw, (long long)s->cvt_x87);
}

/* --- Signals --------------------------------------------------------------- */

static char altstack[64 * 1024] __attribute__((aligned(16)));
static volatile uintptr_t usr1_frame;    /* an address on the stack the SIGUSR1 handler ran on */
static volatile sig_atomic_t alarms, usr2s, winches;
static volatile long usr2_tid;
static volatile long restores, checkpoints;

static void on_usr1(int sig) {
  (void)sig;
  volatile char here = 0;
  usr1_frame = (uintptr_t)&here;
  usr1_flag = 1;
}
static void on_alarm(int sig) { (void)sig; alarms++; }
static void on_usr2(int sig) {
  (void)sig;
  usr2_tid = real_tid();
  usr2s++;
}
static void on_winch(int sig) { (void)sig; winches++; }

static void handle(int sig, void (*fn)(int), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, NULL) != 0) {
    perror("sigaction");
    exit(1);
  }
}

/* vproc tells us of checkpoints and restores (nothing natively). */
static void on_checkpoint(void* arg) { (void)arg; checkpoints++; }
static void on_restore(void* arg) {
  (void)arg;
  restores++;
  static const char msg[] = "restored\n";
  if (write(2, msg, sizeof msg - 1) < 0) { /* nothing to do */ }
}
static void watch_checkpoints(void) {
  int (*at_ckpt)(void (*)(void*), void*) = (int (*)(void (*)(void*), void*))dlsym(RTLD_DEFAULT, "vproc_at_checkpoint");
  int (*at_restore)(void (*)(void*), void*) = (int (*)(void (*)(void*), void*))dlsym(RTLD_DEFAULT, "vproc_at_restore");
  if (at_ckpt) at_ckpt(on_checkpoint, NULL);
  if (at_restore) at_restore(on_restore, NULL);
}

/* --- State before the loop -------------------------------------------------- */

static __thread long tls_value = 0x1111;
static const char kEnvName[] = "CKPT_CPU_STATE_VAR";
static const char kEnvValue[] = "kept across a restore";
enum { kAppendFd = 7, kDataSize = 20000, kDataOffset = 12345, kSharedOffset = 40, kNofile = 256 };

struct before {
  long vpid, vtid, pid, tid;
  long* tls_addr;
  int* errno_addr;
  unsigned long fs_base;
  void* robust_head;
  size_t robust_len;
  int* tid_address;
  sigset_t mask;
  stack_t altstack;
  struct rlimit nofile;
  void* brk;
  char cwd[4096];
  char cmdline[4096], environ_[16384];
  ssize_t cmdline_len, environ_len;
  char comm[16];
  int data_fd, ghost_fd, null_fd, urandom_fd, shared_a, shared_b;
  struct stat append_st, data_st, shared_st;
  char dir[4096];
};
static struct before B;

static ssize_t slurp(const char* path, char* buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
    if (n == cap) break;
  }
  close(fd);
  return (ssize_t)n;
}

static uint8_t data_byte(size_t i) { return (uint8_t)(i * 131 + (i >> 8) * 7 + 1); }

static void die(const char* what) {
  fprintf(stderr, "setup: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void write_file(const char* name, const void* p, size_t n) {
  int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, p, n) != (ssize_t)n || close(fd) != 0) die(name);
}

static void set_up_files(void) {
  const char* tmp = getenv("TMPDIR");
  snprintf(B.dir, sizeof B.dir, "%s/cpu_state.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(B.dir)) die("mkdtemp");
  if (chdir(B.dir) != 0) die("chdir");
  if (!getcwd(B.cwd, sizeof B.cwd)) die("getcwd");

  int fd = open("append.txt", O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
  if (fd < 0 || dup2(fd, kAppendFd) != kAppendFd) die("append.txt");
  close(fd);
  if (write(kAppendFd, "before\n", 7) != 7) die("write append.txt");

  static uint8_t data[kDataSize];
  for (size_t i = 0; i < sizeof data; ++i) data[i] = data_byte(i);
  write_file("data.bin", data, sizeof data);
  B.data_fd = open("data.bin", O_RDONLY);
  if (B.data_fd < 0 || lseek(B.data_fd, kDataOffset, SEEK_SET) != kDataOffset) die("data.bin");

  B.ghost_fd = open("ghost", O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (B.ghost_fd < 0 || write(B.ghost_fd, "ghost data", 10) != 10 || unlink("ghost") != 0) die("ghost");

  B.null_fd = open("/dev/null", O_RDWR);
  B.urandom_fd = open("/dev/urandom", O_RDONLY);
  if (B.null_fd < 0 || B.urandom_fd < 0) die("devices");

  char text[100];
  for (size_t i = 0; i < sizeof text; ++i) text[i] = (char)('a' + i % 26);
  write_file("shared.txt", text, sizeof text);
  B.shared_a = open("shared.txt", O_RDONLY);
  B.shared_b = dup(B.shared_a);
  if (B.shared_a < 0 || B.shared_b < 0 || fcntl(B.shared_b, F_SETFD, FD_CLOEXEC) != 0 ||
      lseek(B.shared_a, kSharedOffset, SEEK_SET) != kSharedOffset)
    die("shared.txt");

  if (fstat(kAppendFd, &B.append_st) || fstat(B.data_fd, &B.data_st) || fstat(B.shared_a, &B.shared_st)) die("fstat");
}

static void set_up_process(void) {
  B.vpid = getpid();
  B.vtid = gettid();
  B.pid = real_pid();
  B.tid = real_tid();
  tls_value = 0x7e57ab1e;
  B.tls_addr = &tls_value;
  B.errno_addr = &errno;
  raw_syscall(SYS_arch_prctl, ARCH_GET_FS, (long)&B.fs_base, 0);
  raw_syscall(SYS_get_robust_list, 0, (long)&B.robust_head, (long)&B.robust_len);
  prctl(PR_GET_TID_ADDRESS, &B.tid_address, 0, 0, 0);
  prctl(PR_GET_NAME, B.comm, 0, 0, 0);

  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGWINCH);
  sigprocmask(SIG_BLOCK, &block, NULL);
  sigprocmask(SIG_BLOCK, NULL, &B.mask);
  stack_t ss = {.ss_sp = altstack, .ss_flags = 0, .ss_size = sizeof altstack};
  if (sigaltstack(&ss, NULL) != 0) die("sigaltstack");
  sigaltstack(NULL, &B.altstack);
  handle(SIGUSR1, on_usr1, SA_ONSTACK);
  handle(SIGUSR2, on_usr2, 0);
  handle(SIGWINCH, on_winch, 0);
  handle(SIGALRM, on_alarm, SA_RESTART);
  struct itimerval it = {{0, 200000}, {0, 200000}};
  if (setitimer(ITIMER_REAL, &it, NULL) != 0) die("setitimer");

  umask(027);
  if (getrlimit(RLIMIT_NOFILE, &B.nofile) != 0) die("getrlimit");
  B.nofile.rlim_cur = kNofile;
  if (setrlimit(RLIMIT_NOFILE, &B.nofile) != 0) die("setrlimit");

  B.cmdline_len = slurp("/proc/self/cmdline", B.cmdline, sizeof B.cmdline);
  B.environ_len = slurp("/proc/self/environ", B.environ_, sizeof B.environ_);
  if (B.cmdline_len <= 0 || B.environ_len <= 0) die("/proc/self/cmdline or environ");
}

/* --- Checks after the loop ------------------------------------------------ */

static void check_itimer(long alarms_at_end) {
  struct itimerval it;
  getitimer(ITIMER_REAL, &it);
  int armed = it.it_interval.tv_sec == 0 && it.it_interval.tv_usec == 200000 &&
              (it.it_value.tv_sec > 0 || it.it_value.tv_usec > 0);
  double t0 = now();
  while (alarms < alarms_at_end + 3 && now() - t0 < 3.0) nap_ms(20);
  double took = now() - t0;
  long more = alarms - alarms_at_end;
  report("itimer", armed && alarms_at_end > 0 && more >= 3 && took < 1.5,
         "interval %ld.%06ld s, value %ld.%06ld s; %ld SIGALRM before the loop ended, %ld more in %.2f s",
         (long)it.it_interval.tv_sec, (long)it.it_interval.tv_usec, (long)it.it_value.tv_sec,
         (long)it.it_value.tv_usec, alarms_at_end, more, took);
  struct itimerval off;
  memset(&off, 0, sizeof off);
  setitimer(ITIMER_REAL, &off, NULL);
}

static void check_tls(void) {
  report("tls", &tls_value == B.tls_addr && tls_value == 0x7e57ab1e, "&tls_value %p (was %p), value %#lx",
         (void*)&tls_value, (void*)B.tls_addr, tls_value);
  errno = 0;
  int r = close(-1);
  int e = errno;
  report("errno", &errno == B.errno_addr && r == -1 && e == EBADF, "&errno %p (was %p), close(-1) = %d errno %d",
         (void*)&errno, (void*)B.errno_addr, r, e);
  unsigned long fs = 0;
  raw_syscall(SYS_arch_prctl, ARCH_GET_FS, (long)&fs, 0);
  report("fs_base", fs == B.fs_base && fs == (unsigned long)pthread_self(), "FS base %#lx (was %#lx), pthread_self %#lx",
         fs, B.fs_base, (unsigned long)pthread_self());
}

static void check_ids(int expect_restore) {
  long vtid = gettid(), tid = real_tid(), sys_tid = syscall(SYS_gettid);
  int tid_ok = vtid == B.vtid && sys_tid == vtid && (expect_restore ? tid != B.tid : tid == B.tid);
  report("tid", tid_ok, "gettid() %ld (was %ld), syscall(SYS_gettid) %ld, kernel tid %ld (was %ld, should %s)", vtid,
         B.vtid, sys_tid, tid, B.tid, expect_restore ? "differ" : "be the same");
  long vpid = getpid(), pid = real_pid();
  report("pid", vpid == B.vpid && pid == tid && (expect_restore ? pid != B.pid : pid == B.pid),
         "getpid() %ld (was %ld), kernel pid %ld (was %ld), kernel tid %ld", vpid, B.vpid, pid, B.pid, tid);
  /* glibc's thread descriptor caches the tid at the clear_child_tid address. */
  int* tid_address = NULL;
  prctl(PR_GET_TID_ADDRESS, &tid_address, 0, 0, 0);
  report("tid_address", tid_address == B.tid_address, "PR_GET_TID_ADDRESS %p (was %p)", (void*)tid_address,
         (void*)B.tid_address);
  report("tid_cache", tid_address && *tid_address == tid, "glibc's cached tid %d, kernel tid %ld",
         tid_address ? *tid_address : -1, tid);
  void* head = NULL;
  size_t len = 0;
  long r = raw_syscall(SYS_get_robust_list, 0, (long)&head, (long)&len);
  report("robust_list", r == 0 && head == B.robust_head && len == B.robust_len, "get_robust_list = %ld: %p/%zu (was %p/%zu)",
         r, head, len, B.robust_head, B.robust_len);
  report("restore_count", restores == (expect_restore ? 1 : 0) && checkpoints == (expect_restore ? 1 : 0),
         "%ld restore(s), %ld checkpoint(s)", restores, checkpoints);
}

static void* kill_main(void* arg) {
  /* A new thread's TLS is its own, with the initial value. */
  if (tls_value != 0x1111) return (void*)-1l;
  return (void*)(long)pthread_kill(*(pthread_t*)arg, SIGUSR2);
}

static int wait_usr2(int want) {
  double t0 = now();
  while (usr2s < want && now() - t0 < 2.0) nap_ms(5);
  return usr2s == want;
}

static void check_signals(void) {
  long tid = real_tid();
  usr2s = 0;
  usr2_tid = 0;
  int r = pthread_kill(pthread_self(), SIGUSR2);
  report("pthread_kill_self", r == 0 && wait_usr2(1) && usr2_tid == tid, "pthread_kill = %d, %d SIGUSR2 on tid %ld (want %ld)",
         r, (int)usr2s, usr2_tid, tid);
  usr2s = 0;
  usr2_tid = 0;
  r = raise(SIGUSR2);
  report("raise", r == 0 && wait_usr2(1) && usr2_tid == tid, "raise = %d, %d SIGUSR2 on tid %ld (want %ld)", r, (int)usr2s,
         usr2_tid, tid);
  /* From another thread, pthread_kill finds us by the tid glibc cached. */
  usr2s = 0;
  usr2_tid = 0;
  pthread_t self = pthread_self(), t;
  void* ret = (void*)-2l;
  r = pthread_create(&t, NULL, kill_main, &self);
  int got = r == 0 && wait_usr2(1);
  if (r == 0) pthread_join(t, &ret);
  report("pthread_kill_from_thread", r == 0 && ret == NULL && got && usr2_tid == tid,
         "pthread_create = %d, thread returned %ld, %d SIGUSR2 on tid %ld (want %ld)", r, (long)ret, (int)usr2s, usr2_tid,
         tid);

  sigset_t mask;
  sigprocmask(SIG_BLOCK, NULL, &mask);
  int same = 1, bad_sig = 0;
  for (int s = 1; s < NSIG && same; ++s)
    if (sigismember(&mask, s) != sigismember(&B.mask, s)) same = 0, bad_sig = s;
  raise(SIGWINCH);
  sigset_t pending;
  sigpending(&pending);
  report("sigmask", same && sigismember(&mask, SIGWINCH) == 1 && winches == 0 && sigismember(&pending, SIGWINCH) == 1,
         "signal %d %s; SIGWINCH blocked %d, handled %d times, pending %d", bad_sig,
         same ? "(none differs)" : "differs from before", sigismember(&mask, SIGWINCH), (int)winches,
         sigismember(&pending, SIGWINCH));

  stack_t ss;
  sigaltstack(NULL, &ss);
  uintptr_t lo = (uintptr_t)altstack, hi = lo + sizeof altstack;
  report("sigaltstack",
         ss.ss_sp == B.altstack.ss_sp && ss.ss_size == B.altstack.ss_size && ss.ss_flags == B.altstack.ss_flags &&
             usr1_frame >= lo && usr1_frame < hi,
         "ss_sp %p size %zu flags %d (was %p %zu %d); the SIGUSR1 handler ran at %#lx, the alternate stack is [%#lx, %#lx)",
         ss.ss_sp, ss.ss_size, ss.ss_flags, B.altstack.ss_sp, B.altstack.ss_size, B.altstack.ss_flags,
         (unsigned long)usr1_frame, (unsigned long)lo, (unsigned long)hi);
}

/* rseq: glibc's area must be registered with the kernel again, which keeps
 * cpu_id current: pinned to each CPU we may use in turn, it must name it. */
static void check_cpu(void) {
  cpu_set_t all, one;
  if (sched_getaffinity(0, sizeof all, &all) != 0) {
    report("rseq", 0, "sched_getaffinity: %s", strerror(errno));
    return;
  }
  unsigned long fs = 0;
  raw_syscall(SYS_arch_prctl, ARCH_GET_FS, (long)&fs, 0);
  volatile struct rseq* area = __rseq_size > 0 ? (volatile struct rseq*)(fs + (unsigned long)__rseq_offset) : NULL;
  int ok = 1, tried = 0, bad_cpu = -1;
  unsigned got_rseq = 0, got_sys = 0;
  int got_glibc = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && tried < 8 && ok; ++cpu) {
    if (!CPU_ISSET(cpu, &all)) continue;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) continue;
    tried++;
    sched_yield();
    got_sys = ~0u;
    raw_syscall(SYS_getcpu, (long)&got_sys, 0, 0);
    got_rseq = area ? area->cpu_id : (unsigned)cpu;
    got_glibc = sched_getcpu();
    if (got_sys != (unsigned)cpu || got_rseq != (unsigned)cpu || got_glibc != cpu) ok = 0, bad_cpu = cpu;
  }
  sched_setaffinity(0, sizeof all, &all);
  report("rseq", ok && tried > 0,
         "pinned to CPU %d: getcpu %u, rseq cpu_id %d, sched_getcpu %d (%d CPUs tried, rseq area %p, size %u)", bad_cpu,
         got_sys, (int)got_rseq, got_glibc, tried, (void*)area, (unsigned)__rseq_size);
  int cpu = sched_getcpu();
  report("sched_getcpu", cpu >= 0 && CPU_ISSET(cpu, &all), "sched_getcpu() = %d, not in the affinity mask", cpu);
}

static void check_process(void* brk_at_end) {
  mode_t m = umask(0);
  umask(m);
  report("umask", m == 027, "umask %#o (want 027)", (unsigned)m);
  char cwd[4096];
  const char* c = getcwd(cwd, sizeof cwd);
  report("cwd", c && strcmp(cwd, B.cwd) == 0, "cwd '%s' (was '%s')", c ? cwd : strerror(errno), B.cwd);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  report("rlimit", rl.rlim_cur == kNofile && rl.rlim_max == B.nofile.rlim_max,
         "RLIMIT_NOFILE %llu/%llu (want %d/%llu)", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
         kNofile, (unsigned long long)B.nofile.rlim_max);

  /* The break as saved, and it still moves. */
  char* top = sbrk(0);
  char* grown = sbrk(8192);
  int moves = grown == top && sbrk(0) == top + 8192;
  if (moves) {
    memset(grown, 0xa5, 8192);
    moves = sbrk(-8192) == top + 8192 && sbrk(0) == top;
  }
  report("brk", brk_at_end == B.brk && top == B.brk && moves, "sbrk(0) %p at the loop's end, %p now (was %p); %s",
         brk_at_end, (void*)top, B.brk, moves ? "it moves" : "sbrk(+-8192) failed");

  /* malloc of many sizes: brk heap, mmap'ed chunks, realloc across both. */
  enum { kBlocks = 300 };
  static unsigned char* blocks[kBlocks];
  static size_t sizes[kBlocks];
  int heap_ok = 1;
  for (int i = 0; i < kBlocks && heap_ok; ++i) {
    sizes[i] = (size_t)1 << (i % 21);
    sizes[i] += (size_t)(i * 7919) % (sizes[i] + 1);
    blocks[i] = malloc(sizes[i]);
    if (!blocks[i]) heap_ok = 0;
    else memset(blocks[i], i & 0xff, sizes[i]);
  }
  for (int i = 0; i < kBlocks && heap_ok; i += 3) {
    unsigned char* p = realloc(blocks[i], sizes[i] * 2 + 1);
    if (!p) heap_ok = 0;
    else blocks[i] = p;
  }
  for (int i = 0; i < kBlocks && heap_ok; ++i)
    for (size_t k = 0; k < sizes[i]; k += 997)
      if (blocks[i][k] != (i & 0xff)) heap_ok = 0;
  for (int i = 0; i < kBlocks; i += 2) free(blocks[i]);
  for (int i = 1; i < kBlocks; i += 2) free(blocks[i]);
  report("malloc", heap_ok, "a malloc/realloc of up to 2 MiB failed or lost its contents");

  static char cmdline[4096], environ_[16384];
  ssize_t n = slurp("/proc/self/cmdline", cmdline, sizeof cmdline);
  report("cmdline", n == B.cmdline_len && memcmp(cmdline, B.cmdline, (size_t)n) == 0,
         "/proc/self/cmdline has %zd bytes (was %zd)%s", n, B.cmdline_len, n == B.cmdline_len ? ", different ones" : "");
  n = slurp("/proc/self/environ", environ_, sizeof environ_);
  const char* v = getenv(kEnvName);
  report("environ", n == B.environ_len && memcmp(environ_, B.environ_, (size_t)n) == 0 && v && strcmp(v, kEnvValue) == 0,
         "/proc/self/environ has %zd bytes (was %zd); %s='%s' (want '%s')", n, B.environ_len, kEnvName, v ? v : "(unset)",
         kEnvValue);
  char comm[16] = "";
  prctl(PR_GET_NAME, comm, 0, 0, 0);
  report("comm", strcmp(comm, B.comm) == 0, "thread name '%s' (was '%s')", comm, B.comm);
}

static int same_file(int fd, const struct stat* was) {
  struct stat st;
  return fstat(fd, &st) == 0 && st.st_dev == was->st_dev && st.st_ino == was->st_ino;
}

static void check_fds(void) {
  /* O_APPEND: a write goes to the end wherever the offset is. */
  int fl = fcntl(kAppendFd, F_GETFL);
  int ok = fl >= 0 && (fl & O_APPEND) && (fl & O_ACCMODE) == O_WRONLY && same_file(kAppendFd, &B.append_st);
  if (ok) ok = lseek(kAppendFd, 0, SEEK_SET) == 0 && write(kAppendFd, "after\n", 6) == 6;
  char buf[256];
  ssize_t n = slurp("append.txt", buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = 0;
  report("fd_append", ok && n == 13 && memcmp(buf, "before\nafter\n", 13) == 0,
         "fd %d flags %#x (want O_WRONLY|O_APPEND); append.txt holds '%s'", kAppendFd, fl, buf);

  off_t at = lseek(B.data_fd, 0, SEEK_CUR);
  unsigned char got[100];
  n = read(B.data_fd, got, sizeof got);
  int match = n == (ssize_t)sizeof got;
  for (size_t i = 0; match && i < sizeof got; ++i) match = got[i] == data_byte(kDataOffset + i);
  fl = fcntl(B.data_fd, F_GETFL);
  report("fd_offset", at == kDataOffset && match && (fl & O_ACCMODE) == O_RDONLY && same_file(B.data_fd, &B.data_st),
         "fd %d: offset %lld (want %d), read %zd bytes %s, flags %#x", B.data_fd, (long long)at, kDataOffset, n,
         match ? "as in the file" : "not as in the file", fl);

  struct stat st;
  char link[4200] = "";
  snprintf(buf, sizeof buf, "/proc/self/fd/%d", B.ghost_fd);
  ssize_t ln = readlink(buf, link, sizeof link - 1);
  link[ln > 0 ? ln : 0] = 0;
  at = lseek(B.ghost_fd, 0, SEEK_CUR);
  fl = fcntl(B.ghost_fd, F_GETFL);
  char ghost[64] = "";
  n = pread(B.ghost_fd, ghost, sizeof ghost - 1, 0);
  ghost[n > 0 ? n : 0] = 0;
  int writes = pwrite(B.ghost_fd, "!", 1, 10) == 1 && pread(B.ghost_fd, ghost + 20, 11, 0) == 11 &&
               memcmp(ghost + 20, "ghost data!", 11) == 0;
  report("fd_deleted",
         fstat(B.ghost_fd, &st) == 0 && st.st_nlink == 0 && n == 10 && strcmp(ghost, "ghost data") == 0 && at == 10 &&
             (fl & O_ACCMODE) == O_RDWR && writes && ln > 10 && strstr(link, " (deleted)"),
         "fd %d -> '%s', %ld links, offset %lld, flags %#x, holds '%s', writable %d", B.ghost_fd, link,
         (long)st.st_nlink, (long long)at, fl, ghost, writes);

  int dev_ok = fstat(B.null_fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
  report("fd_devnull", dev_ok && write(B.null_fd, "x", 1) == 1 && read(B.null_fd, buf, 1) == 0,
         "fd %d is not a working /dev/null", B.null_fd);
  dev_ok = fstat(B.urandom_fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 9);
  memset(got, 0, 32);
  n = read(B.urandom_fd, got, 32);
  int zeros = 1;
  for (int i = 0; i < 32; ++i) zeros &= got[i] == 0;
  report("fd_urandom", dev_ok && n == 32 && !zeros, "fd %d is not a working /dev/urandom (read %zd)", B.urandom_fd, n);

  /* dup'ed: one open file description, one offset; the close-on-exec flag
   * is each fd's own. */
  off_t a0 = lseek(B.shared_a, 0, SEEK_CUR), b0 = lseek(B.shared_b, 0, SEEK_CUR);
  lseek(B.shared_a, 70, SEEK_SET);
  off_t b1 = lseek(B.shared_b, 0, SEEK_CUR);
  char ch = 0;
  ssize_t rn = read(B.shared_b, &ch, 1);
  off_t a1 = lseek(B.shared_a, 0, SEEK_CUR);
  int cloexec_a = fcntl(B.shared_a, F_GETFD), cloexec_b = fcntl(B.shared_b, F_GETFD);
  report("fd_dup_shared",
         a0 == kSharedOffset && b0 == kSharedOffset && b1 == 70 && rn == 1 && ch == 'a' + 70 % 26 && a1 == 71 &&
             cloexec_a == 0 && cloexec_b == FD_CLOEXEC && same_file(B.shared_b, &B.shared_st),
         "fds %d/%d: offsets %lld/%lld (want %d), after lseek(a, 70) b at %lld, after read(b) a at %lld; FD_CLOEXEC %d/%d",
         B.shared_a, B.shared_b, (long long)a0, (long long)b0, kSharedOffset, (long long)b1, (long long)a1, cloexec_a,
         cloexec_b);
}

static void clean_up(void) {
  unlink("append.txt");
  unlink("data.bin");
  unlink("shared.txt");
  if (chdir("/") == 0) rmdir(B.dir);
}

int main(int argc, char** argv) {
  int expect_restore = argc > 1 && strcmp(argv[1], "--expect-restore") == 0;
  if (argc > 2 || (argc == 2 && !expect_restore)) {
    fprintf(stderr, "usage: ckpt_cpu_state [--expect-restore]\n");
    return 2;
  }
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx")) {
    fprintf(stderr, "the CPU lacks AVX\n");
    return 77;
  }
  setvbuf(stdout, NULL, _IONBF, 0);
  watch_checkpoints();
  free(malloc(100)); /* the heap exists: the break is where malloc keeps it */
  set_up_files();
  set_up_process();

  static struct spin_state s;
  fill_spin_state(&s);
  static const char looping[] = "looping\n";
  if (write(1, looping, sizeof looping - 1) < 0) return 1;
  B.brk = sbrk(0);
  spin_with_vector_state(&s);
  void* brk_at_end = sbrk(0);
  long alarms_at_end = alarms;

  check_spin_state(&s);
  check_itimer(alarms_at_end);
  check_tls();
  check_ids(expect_restore);
  check_signals();
  check_cpu();
  check_process(brk_at_end);
  check_fds();
  clean_up();
  return failures == 0 ? 0 : 1;
}
