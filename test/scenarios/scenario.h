/* Shared helpers for the scenario programs (test/scenarios/NAME.c).
 *
 * A scenario is a small real program about one topic. It prints tokens that
 * are the same natively and under vproc (relations and statuses, never raw pid
 * numbers), ends with the line EXIT-SUCCESS and exits 0. The runner
 * (test/lib/run_scenario.sh) runs it in several modes and compares the output.
 *
 * Conventions:
 *   - stdout is unbuffered (set before main), so a fork child never inherits
 *     and re-prints buffered text, and output order follows program order;
 *   - a child prints only while its parent is blocked waiting for it;
 *   - check() failures print "FAILED: ..." on stdout and stderr and exit 1
 *     (in a child, the parent then sees a wrong exit status and fails too);
 *   - include "scenario.h" first (it sets _GNU_SOURCE);
 *   - pid_seen() is applied to every pid the program learns. When the runner
 *     sets SCENARIO_EXPECT_VIRTUAL=1 (vproc modes), a pid below 2^22 means a
 *     real pid leaked through vproc: that is reported on stderr, exit 99.
 */
#ifndef VPROC_TEST_SCENARIO_H
#define VPROC_TEST_SCENARIO_H

#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* The first virtual pid: (node 0 + 1) << 22. Every real pid is below it. */
#define SCENARIO_FIRST_VPID 4194304

/* Exit code for "a real pid leaked" (distinct from an ordinary check failure). */
#define SCENARIO_LEAK_EXIT 99

static int scenario_expect_virtual_ = -1;

__attribute__((constructor)) static void scenario_init_(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  /* A child killed by SIGSEGV must not leave a core file behind. */
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
}

__attribute__((format(printf, 1, 2), noreturn)) static inline void fail(const char* fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  printf("FAILED: %s\n", msg);
  fprintf(stderr, "FAILED: %s (errno now: %s)\n", msg, strerror(errno));
  exit(1);
}

/* Prints "ok: what" when cond holds, else fails. One write per line, so lines
 * of processes that happen to run side by side never mix. */
#define check(cond, ...)                                          \
  do {                                                            \
    char what_[400];                                              \
    snprintf(what_, sizeof what_, __VA_ARGS__);                   \
    if (cond)                                                     \
      printf("ok: %s\n", what_);                                  \
    else                                                          \
      fail("%s [%s:%d: %s]", what_, __FILE__, __LINE__, #cond);   \
  } while (0)

/* Like check(), but only fails (prints nothing on success): for checks in
 * loops or in places where the output must not depend on timing. */
#define require(cond, ...)                 \
  do {                                     \
    if (!(cond)) {                         \
      char what_[400];                     \
      snprintf(what_, sizeof what_, __VA_ARGS__); \
      fail("%s [%s:%d: %s]", what_, __FILE__, __LINE__, #cond); \
    }                                      \
  } while (0)

/* A syscall-style call that must succeed (returns >= 0). */
#define must(call)                                                      \
  ({                                                                    \
    long must_r_ = (long)(call);                                        \
    if (must_r_ < 0) fail("%s returned %ld (%s) [%s:%d]", #call, must_r_, \
                          strerror(errno), __FILE__, __LINE__);         \
    must_r_;                                                            \
  })

static inline int expect_virtual(void) {
  if (scenario_expect_virtual_ < 0) {
    const char* e = getenv("SCENARIO_EXPECT_VIRTUAL");
    scenario_expect_virtual_ = (e && strcmp(e, "1") == 0) ? 1 : 0;
  }
  return scenario_expect_virtual_;
}

/* For a program that re-execs itself with a cleared environment: carries the
 * expectation over argv instead. */
static inline void set_expect_virtual(int on) { scenario_expect_virtual_ = on ? 1 : 0; }

/* Every pid the program sees goes through here. Returns p. */
#define pid_seen(p) pid_seen_((p), #p, __FILE__, __LINE__)
static inline pid_t pid_seen_(pid_t p, const char* expr, const char* file, int line) {
  if (expect_virtual() && p < SCENARIO_FIRST_VPID) {
    fprintf(stderr,
            "REAL PID LEAKED: %s = %d at %s:%d, but under vproc every pid must be >= %d\n",
            expr, (int)p, file, line, SCENARIO_FIRST_VPID);
    printf("FAILED: real pid leaked (%s)\n", expr);
    exit(SCENARIO_LEAK_EXIT);
  }
  return p;
}

/* fork() whose result (in the parent) is checked by pid_seen. */
static inline pid_t fork_checked(void) {
  fflush(stdout);
  pid_t p = fork();
  if (p < 0) fail("fork: %s", strerror(errno));
  if (p > 0) pid_seen(p);
  return p;
}

/* A human-readable, pid-free description of a wait status. */
static inline const char* describe_status(int status, char* buf, size_t len) {
  if (WIFEXITED(status))
    snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
  else if (WIFSTOPPED(status))
    snprintf(buf, len, "stopped by signal %d", WSTOPSIG(status));
  else if (WIFCONTINUED(status))
    snprintf(buf, len, "continued");
  else
    snprintf(buf, len, "unknown status 0x%x", status);
  return buf;
}

/* waitpid(pid) that must return exactly pid (retrying EINTR); returns the status. */
static inline int wait_for(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r != pid) fail("waitpid(%s) returned %s", "child", r < 0 ? strerror(errno) : "another pid");
  return status;
}

/* Waits for pid and requires the given exit code. */
static inline void expect_exit(pid_t pid, int code, const char* who) {
  char buf[64];
  int status = wait_for(pid);
  check(WIFEXITED(status) && WEXITSTATUS(status) == code, "%s: %s", who,
        describe_status(status, buf, sizeof buf));
}

/* Blocking read/write of exactly n bytes over a pipe (parent/child handshakes). */
static inline void write_all(int fd, const void* buf, size_t n) {
  const char* p = (const char*)buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write to handshake fd: %s", strerror(errno));
    p += w;
    n -= (size_t)w;
  }
}
static inline void read_all(int fd, void* buf, size_t n) {
  char* p = (char*)buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) fail("handshake fd closed early");
    if (r < 0) fail("read from handshake fd: %s", strerror(errno));
    p += r;
    n -= (size_t)r;
  }
}

static inline void send_pid(int fd, pid_t p) { write_all(fd, &p, sizeof p); }
static inline pid_t recv_pid(int fd) {
  pid_t p;
  read_all(fd, &p, sizeof p);
  return pid_seen(p);
}

/* The one-letter state of thread `tid` of this process (/proc/self/task/TID/
 * stat: R running, S asleep, T stopped, ...), '?' if unknown. */
static inline char scenario_task_state(pid_t tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
  FILE* f = fopen(path, "r");
  if (!f) return '?';
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char* p = strrchr(buf, ')');
  return p && p[1] == ' ' ? p[2] : '?';
}

/* Waits (5 s at most) until *blocking is set and thread `tid` is asleep in
 * the kernel; fails naming `what` otherwise. */
static inline void scenario_await_asleep(volatile int* blocking, volatile pid_t* tid, const char* what) {
  for (int n = 0; n < 5000; n++) {
    if (__atomic_load_n(blocking, __ATOMIC_SEQ_CST) && scenario_task_state(pid_seen(*tid)) == 'S') return;
    usleep(1000);
  }
  fail("%s never blocked", what);
}

/* A fresh directory for the program's files, under $TMPDIR (the runner's temp
 * dir) or /tmp. Returns a static buffer. */
static inline const char* scenario_tmpdir(const char* name) {
  static char dir[512];
  const char* base = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/%s.XXXXXX", base && *base ? base : "/tmp", name);
  if (!mkdtemp(dir)) fail("mkdtemp(%s): %s", dir, strerror(errno));
  return dir;
}

/* Migration points (the migrate mode of run_scenario.sh). A no-op unless
 * VPROC_SCENARIO_MIGRATE_DIR is set; then the process writes its pid to
 * DIR/point-N.want (N: the first free number) and waits until DIR/point-N.done
 * exists, while the runner migrates it to another host and back. Unlike a
 * checkpoint point, a migration point may have live children: they stay where
 * they run, and the migrated process still waits for them (docs/cluster.md,
 * "Children left behind"). Every SCENARIO_CKPT_POINT() is a migration point
 * too; SCENARIO_MIGRATE_POINT() is one for migrations only. */
static inline void scenario_migrate_point_(const char* file, int line) {
  const char* dir = getenv("VPROC_SCENARIO_MIGRATE_DIR");
  if (!dir || !*dir) return;
  char want[600], tmp[620], done[620];
  int n = 1;
  for (;; n++) {
    snprintf(want, sizeof want, "%s/point-%d.want", dir, n);
    if (access(want, F_OK) != 0) break;
  }
  snprintf(tmp, sizeof tmp, "%s.tmp", want);
  snprintf(done, sizeof done, "%s/point-%d.done", dir, n);
  FILE* f = fopen(tmp, "w");
  if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, want) != 0)
    fail("migration point %s:%d: cannot write %s: %s", file, line, want, strerror(errno));
  for (int waited = 0; access(done, F_OK) != 0; waited++) {
    if (waited > 12000) fail("migration point %s:%d: nobody migrated the process in 120 s", file, line);
    usleep(10000);
  }
}
#define SCENARIO_MIGRATE_POINT() scenario_migrate_point_(__FILE__, __LINE__)

/* Checkpoint points (the ckpt mode of run_scenario.sh). A no-op unless
 * VPROC_SCENARIO_CKPT_DIR is set; then the process checkpoints itself to
 * DIR/point-N.vpimg (N: the first free number, so it counts on across restores
 * and execs). The original then stops until the runner kills it; the restored
 * process (vproc_checkpoint() returns 1) continues from here, under
 * `vproc restore`. Only this process is in the image, so a point goes where it
 * has no live children (and no pipe, socket or other fd the checkpointer
 * refuses). vproc_checkpoint is looked up at run time, so the native build
 * needs no libvproc. */
static inline void scenario_ckpt_point_(const char* file, int line) {
  scenario_migrate_point_(file, line);
  const char* dir = getenv("VPROC_SCENARIO_CKPT_DIR");
  if (!dir || !*dir) return;
  int (*ckpt)(const char*) = (int (*)(const char*))dlsym(RTLD_DEFAULT, "vproc_checkpoint");
  if (!ckpt) fail("checkpoint point %s:%d: vproc_checkpoint() not found (libvproc not loaded?)", file, line);
  char path[600];
  for (int n = 1;; n++) {
    snprintf(path, sizeof path, "%s/point-%d.vpimg", dir, n);
    if (access(path, F_OK) != 0) break;
  }
  errno = 0;
  int r = ckpt(path);
  if (r < 0) {
    int err = errno;
    const char* (*why)(void) = (const char* (*)(void))dlsym(RTLD_DEFAULT, "vproc_checkpoint_error");
    fail("checkpoint point %s:%d: vproc_checkpoint(%s) failed: %s: %s", file, line, path, strerror(err),
         why ? why() : "?");
  }
  if (r == 0) /* the original: the image is complete; wait for SIGKILL */
    for (;;) raise(SIGSTOP);
}
#define SCENARIO_CKPT_POINT() scenario_ckpt_point_(__FILE__, __LINE__)

static inline int scenario_done(void) {
  printf("EXIT-SUCCESS\n");
  return 0;
}

#endif /* VPROC_TEST_SCENARIO_H */
