/* The checkpoint signal (VPROC_CKPT_SIGNAL, 62 by default) stays the
 * program's own under vproc: it installs a handler for it, blocks it, waits
 * for it, ignores it, dies of it, and sees exactly what it would see natively.
 * Only /proc/thread-self/status (SigBlk) tells the difference: under vproc the
 * kernel never really blocks the signal, so a checkpoint stays possible.
 *
 * Prints one "ok: ..." line per check and EXIT-SUCCESS; the same natively and
 * under vproc. Details go to stderr ("guard active" under vproc). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int sig;     /* the checkpoint signal */
static int guarded; /* under vproc with checkpointing on: never really blocked */

static volatile sig_atomic_t handled, last_code, last_value, depth, max_depth;
static volatile pid_t last_pid;
static volatile int usr1_saw_blocked = -1;

static void fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAILED: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

#define CHECK(cond, what)                                          \
  do {                                                             \
    if (!(cond)) fail("%s (line %d, errno %d)", what, __LINE__, errno); \
    printf("ok: %s\n", what);                                      \
  } while (0)

/* Whether the kernel blocks `sig` in the calling thread (async-signal-safe). */
static int really_blocked(void) {
  char buf[4096];
  int fd = open("/proc/thread-self/status", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  const char* p = strstr(buf, "SigBlk:");
  if (!p) return -1;
  unsigned long long mask = strtoull(p + 7, NULL, 16);
  return (mask >> (sig - 1)) & 1;
}

/* Blocked in the kernel exactly when not guarded. */
static int blocked_as_expected(void) { return really_blocked() == !guarded; }

static int reported_blocked(void) {
  sigset_t cur;
  if (sigprocmask(SIG_BLOCK, NULL, &cur) != 0) fail("sigprocmask query");
  return sigismember(&cur, sig);
}

static void on_sig(int s, siginfo_t* si, void* uc) {
  (void)s;
  (void)uc;
  handled++;
  last_code = si->si_code;
  last_value = si->si_value.sival_int;
  last_pid = si->si_pid;
}

static void nesting(int s) {
  handled++;
  depth++;
  if (depth > max_depth) max_depth = depth;
  if (handled == 1) raise(s); /* blocked while we run: comes after we return */
  depth--;
}

static void on_usr1(int s) {
  (void)s;
  usr1_saw_blocked = blocked_as_expected();
}

static void install(void* fn, int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = flags;
  sa.sa_sigaction = (void (*)(int, siginfo_t*, void*))fn;
  if (sigaction(sig, &sa, NULL) != 0) fail("sigaction(%d): %s", sig, strerror(errno));
}

static void* thread_main(void* arg) {
  (void)arg;
  int ok = reported_blocked() == 1 && blocked_as_expected();
  return (void*)(intptr_t)ok;
}

static void block_only_sig(int how) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, sig);
  if (pthread_sigmask(how, &s, NULL) != 0) fail("pthread_sigmask");
}

int main(void) {
  const char* env = getenv("VPROC_CKPT_SIGNAL");
  sig = env && atoi(env) > 0 ? atoi(env) : 62;
  int (*is_active)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "vproc_is_active");
  guarded = is_active && is_active() && !(env && strcmp(env, "0") == 0);
  fprintf(stderr, "signal %d, guard %s\n", sig, guarded ? "active" : "inactive");
  setvbuf(stdout, NULL, _IOLBF, 0);
  pid_t me = getpid();

  /* Dispositions. */
  struct sigaction old;
  CHECK(sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_DFL, "the initial disposition is SIG_DFL");
  install(on_sig, SA_SIGINFO | SA_RESTART);
  CHECK(sigaction(sig, NULL, &old) == 0 && old.sa_sigaction == on_sig && (old.sa_flags & SA_SIGINFO),
        "sigaction reports the program's handler");
  struct {
    void* handler;
    unsigned long flags;
    void* restorer;
    uint64_t mask;
  } k;
  CHECK(syscall(SYS_rt_sigaction, sig, NULL, &k, 8) == 0 && k.handler == (void*)on_sig,
        "rt_sigaction through syscall() reports the program's handler");

  /* Delivery to the program's handler, not taken as a checkpoint. */
  raise(sig);
  CHECK(handled == 1 && last_code == SI_TKILL && last_pid == me, "raise: the handler ran (SI_TKILL, from us)");
  kill(me, sig);
  CHECK(handled == 2 && last_code == SI_USER && last_pid == me, "kill: the handler ran (SI_USER, from us)");
  union sigval v = {.sival_int = 42};
  sigqueue(me, sig, v);
  CHECK(handled == 3 && last_code == SI_QUEUE && last_value == 42, "sigqueue: the handler ran with the value");

  /* Blocking everything. */
  sigset_t full, empty;
  sigfillset(&full);
  sigemptyset(&empty);
  CHECK(sigprocmask(SIG_SETMASK, &full, NULL) == 0, "sigprocmask(SIG_SETMASK, full)");
  CHECK(reported_blocked() == 1, "the old mask reports the signal blocked");
  int real = really_blocked();
  fprintf(stderr, "SigBlk has the signal: %d\n", real);
  CHECK(real == !guarded, "SigBlk: really blocked natively only");
  raise(sig);
  CHECK(handled == 3, "raise while blocked: the handler did not run");
  sigset_t pend;
  CHECK(sigpending(&pend) == 0 && sigismember(&pend, sig) == 1, "sigpending reports it");
  block_only_sig(SIG_UNBLOCK);
  CHECK(handled == 4 && last_code == SI_TKILL && last_pid == me, "unblocking delivered it before returning");
  CHECK(reported_blocked() == 0, "the mask reports it unblocked");

  /* Waiting for it. */
  block_only_sig(SIG_BLOCK);
  kill(me, sig);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  int got = 0;
  CHECK(sigwait(&only, &got) == 0 && got == sig && handled == 4, "sigwait takes it (no handler)");
  v.sival_int = 7;
  sigqueue(me, sig, v);
  siginfo_t info;
  CHECK(sigwaitinfo(&only, &info) == sig && info.si_code == SI_QUEUE && info.si_value.sival_int == 7 &&
            info.si_pid == me,
        "sigwaitinfo takes it with its siginfo");
  struct timespec zero = {0, 0};
  CHECK(sigtimedwait(&only, &info, &zero) == -1 && errno == EAGAIN, "sigtimedwait: nothing more pending");
  raise(sig);
  CHECK(sigsuspend(&empty) == -1 && errno == EINTR && handled == 5, "sigsuspend lets the pending one in");
  CHECK(reported_blocked() == 1 && blocked_as_expected(), "after sigsuspend: blocked again");

  /* A new thread inherits the mask. */
  pthread_t t;
  void* thread_ok = NULL;
  CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0 && pthread_join(t, &thread_ok) == 0 && thread_ok,
        "a new thread starts with the signal blocked");
  CHECK(sigprocmask(SIG_SETMASK, &empty, NULL) == 0 && reported_blocked() == 0, "unblocked again");

  /* rt_sigprocmask through syscall(). */
  uint64_t bit = 1ull << (sig - 1), kold = 0;
  CHECK(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &bit, NULL, 8) == 0 &&
            syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &kold, 8) == 0 && (kold & bit),
        "rt_sigprocmask through syscall() blocks it");
  CHECK(blocked_as_expected(), "SigBlk after rt_sigprocmask: really blocked natively only");
  kill(me, sig);
  CHECK(syscall(SYS_rt_sigtimedwait, &bit, &info, NULL, 8) == sig && info.si_code == SI_USER && handled == 5,
        "rt_sigtimedwait through syscall() takes it");
  raise(sig);
  uint64_t none = 0;
  CHECK(syscall(SYS_rt_sigsuspend, &none, 8) == -1 && errno == EINTR && handled == 6,
        "rt_sigsuspend through syscall() lets the pending one in");
  CHECK(syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &bit, NULL, 8) == 0 && reported_blocked() == 0,
        "rt_sigprocmask through syscall() unblocks it");

  /* Another signal's handler with a full sa_mask. */
  struct sigaction usr1;
  memset(&usr1, 0, sizeof usr1);
  usr1.sa_handler = on_usr1;
  sigfillset(&usr1.sa_mask);
  sigaction(SIGUSR1, &usr1, NULL);
  raise(SIGUSR1);
  CHECK(usr1_saw_blocked == 1, "a handler with a full sa_mask: really blocked natively only");

  /* One-shot handlers; a handler blocks its own signal. */
  install(on_sig, SA_SIGINFO | SA_RESETHAND);
  raise(sig);
  CHECK(handled == 7 && sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_DFL,
        "SA_RESETHAND: ran once, then SIG_DFL");
  handled = 0;
  install(nesting, 0);
  raise(sig);
  CHECK(handled == 2 && max_depth == 1, "the signal is blocked while its handler runs");

  /* signal(): SIG_IGN, then SIG_DFL (terminates). */
  CHECK(signal(sig, SIG_IGN) == nesting, "signal() returns the previous handler");
  raise(sig);
  CHECK(handled == 2, "SIG_IGN: nothing happens");
  fflush(stdout);
  pid_t c = fork();
  if (c == 0) {
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(0);
  }
  int st = 0;
  CHECK(c > 0 && waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == sig,
        "SIG_DFL: the child was terminated by the signal");

  printf("EXIT-SUCCESS\n");
  return 0;
}
