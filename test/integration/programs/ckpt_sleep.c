/* Sleeps and timed waits take their full time although a checkpoint comes in
 * the middle of them (libvproc's ckpt_restart.h). The checkpoints come from
 * outside: before each call the program prints "waiting NAME", and the test
 * script (ckpt_sleep.sh) runs `vproc checkpoint` while the call blocks.
 *
 *   ckpt_sleep list                  the names of the live calls, one a line
 *   ckpt_sleep live [--expect-checkpoints]
 *       each call in turn, each with "ok: NAME ended as without a checkpoint,
 *       after its full time" (at least the full time, at most 0.5 s more; the
 *       last one is cut short by the program's SIGUSR1 after the checkpoint,
 *       as natively); then the controls: the program's own SIGUSR1 (no
 *       SA_RESTART) still interrupts nanosleep, sleep and poll as natively.
 *   ckpt_sleep restore [--expect-restore]
 *       "waiting sleep3", then sleep(3): checkpointed (--stop), killed and
 *       restored meanwhile, it must still return 0 after 3 s in all, and
 *       sleep after the restore what was left of it at the checkpoint.
 *
 * stdout is the same natively and under vproc (ends with EXIT-SUCCESS).
 * Under vproc the program learns of each checkpoint from vproc_at_checkpoint
 * (found with dlsym; absent natively): --expect-checkpoints fails a call that
 * no checkpoint interrupted, --expect-restore a run that was not restored. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char* what) {
  printf("FAILED: %s\n", what);
  fprintf(stderr, "FAILED: %s\n", what);
  exit(1);
}

/* --- What vproc tells us (nothing natively). ------------------------------ */

enum { kMaxCalls = 32 };
static volatile int current = -1;        /* the call in progress */
static volatile int hits[kMaxCalls];     /* checkpoints during each call */
static volatile double ckpt_at, restore_at;
static volatile int restores;

static void on_checkpoint(void* arg) {
  (void)arg;
  if (current >= 0) hits[current]++;
  ckpt_at = now();
}
static void on_restore(void* arg) {
  (void)arg;
  restore_at = now();
  restores++;
}

static int watch_checkpoints(void) {
  int (*at_ckpt)(void (*)(void*), void*) = (int (*)(void (*)(void*), void*))dlsym(RTLD_DEFAULT, "vproc_at_checkpoint");
  int (*at_restore)(void (*)(void*), void*) = (int (*)(void (*)(void*), void*))dlsym(RTLD_DEFAULT, "vproc_at_restore");
  if (!at_ckpt || !at_restore) return 0;
  return at_ckpt(on_checkpoint, NULL) == 0 && at_restore(on_restore, NULL) == 0;
}

/* --- The calls. ------------------------------------------------------------ */

static volatile sig_atomic_t alarms, usr1s;
static void on_alarm(int sig) { (void)sig; alarms++; }
static void on_usr1(int sig) { (void)sig; usr1s++; }

static void handle(int sig, void (*fn)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;  /* no SA_RESTART: natively, these signals interrupt */
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, NULL) != 0) fail("sigaction");
}

/* SIGALRM after `s` seconds (interval timers are part of a checkpoint). */
static void alarm_in(double s) {
  struct itimerval it;
  memset(&it, 0, sizeof it);
  it.it_value.tv_sec = (time_t)s;
  it.it_value.tv_usec = (suseconds_t)((s - (double)(time_t)s) * 1e6);
  if (setitimer(ITIMER_REAL, &it, NULL) != 0) fail("setitimer");
}

static struct timespec ts_of(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  return ts;
}

/* The program's own SIGUSR1 after `s` seconds (a POSIX timer: only in the
 * live run, whose images are not restored). */
static timer_t usr1_timer;
static void usr1_in(double s) {
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value = ts_of(s);
  usr1s = 0;
  if (timer_settime(usr1_timer, 0, &its, NULL) != 0) fail("timer_settime");
}
static void make_usr1_timer(void) {
  handle(SIGUSR1, on_usr1);
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = SIGUSR1;
  if (timer_create(CLOCK_MONOTONIC, &sev, &usr1_timer) != 0) fail("timer_create");
}

/* An empty epoll set, open only around the epoll calls. */
static int epfd = -1;
static uint32_t futex_word;
static void open_epoll(void) {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) fail("epoll_create1");
}

/* Each returns 1 when the call ended as it does without interruption. */
static int c_sleep(void) { return sleep(2) == 0; }
static int c_nanosleep(void) {
  struct timespec req = ts_of(1.5), rem;
  return nanosleep(&req, &rem) == 0;
}
static int c_poll(void) { return poll(NULL, 0, 1500) == 0; }
static int c_select(void) {
  struct timeval tv = {1, 500000};
  return select(0, NULL, NULL, NULL, &tv) == 0;
}
static int c_epoll_wait(void) {
  struct epoll_event ev;
  int r = epoll_wait(epfd, &ev, 1, 1500);
  close(epfd);
  return r == 0;
}
static int c_usleep(void) { return usleep(1500000) == 0; }
static int c_clock_nanosleep_abs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  t.tv_sec += 1;
  t.tv_nsec += 500000000;
  if (t.tv_nsec >= 1000000000) t.tv_sec++, t.tv_nsec -= 1000000000;
  return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == 0;
}
static int c_clock_nanosleep_rel(void) {
  struct timespec req = ts_of(1.5);
  return clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL) == 0;
}
static int c_ppoll(void) {
  struct timespec t = ts_of(1.5);
  sigset_t mask;
  sigemptyset(&mask);
  return ppoll(NULL, 0, &t, &mask) == 0;
}
static int c_pselect(void) {
  struct timespec t = ts_of(1.5);
  sigset_t mask;
  sigfillset(&mask);  /* the checkpoint signal too: it must get through all the same */
  return pselect(0, NULL, NULL, NULL, &t, &mask) == 0;
}
static int c_epoll_pwait(void) {
  struct epoll_event ev;
  sigset_t mask;
  sigemptyset(&mask);
  int r = epoll_pwait(epfd, &ev, 1, 1500, &mask);
  close(epfd);
  return r == 0;
}
static int c_sigtimedwait(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  struct timespec t = ts_of(1.5);
  return sigtimedwait(&set, NULL, &t) == -1 && errno == EAGAIN;
}
static int c_sys_nanosleep(void) {
  struct timespec req = ts_of(1.5);
  return syscall(SYS_nanosleep, &req, NULL) == 0;
}
static int c_sys_poll(void) { return syscall(SYS_poll, NULL, 0, 1500) == 0; }
static int c_sys_futex(void) {
  struct timespec t = ts_of(1.5);
  return syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, futex_word, &t, NULL, 0) == -1 &&
         errno == ETIMEDOUT;
}
/* After the checkpoint, the program's own signal still cuts it short. */
static int c_nanosleep_usr1(void) {
  struct timespec req = ts_of(3.0), rem = {0, 0};
  usr1_in(1.0);
  int r = nanosleep(&req, &rem);
  return r == -1 && errno == EINTR && usr1s == 1 && rem.tv_sec >= 1 && rem.tv_sec <= 2;
}
/* These two wait for the program's SIGALRM, 1.5 s after they start. */
static int c_sigsuspend(void) {
  sigset_t mask;
  sigemptyset(&mask);
  alarms = 0;
  alarm_in(1.5);
  return sigsuspend(&mask) == -1 && errno == EINTR && alarms == 1;
}
static int c_pause(void) {
  alarms = 0;
  alarm_in(1.5);
  return pause() == -1 && errno == EINTR && alarms == 1;
}

struct call {
  const char* name;
  double full;  /* seconds */
  int (*run)(void);
  void (*before)(void);  /* before "waiting", or NULL */
};
static const struct call calls[] = {
    {"sleep(2)", 2.0, c_sleep},
    {"nanosleep(1.5s)", 1.5, c_nanosleep},
    {"poll(NULL,0,1500)", 1.5, c_poll},
    {"select(1.5s)", 1.5, c_select},
    {"epoll_wait(1500)", 1.5, c_epoll_wait, open_epoll},
    {"usleep(1500000)", 1.5, c_usleep},
    {"clock_nanosleep(ABSTIME)", 1.5, c_clock_nanosleep_abs},
    {"clock_nanosleep(1.5s)", 1.5, c_clock_nanosleep_rel},
    {"ppoll(1.5s)", 1.5, c_ppoll},
    {"pselect(1.5s)", 1.5, c_pselect},
    {"epoll_pwait(1500)", 1.5, c_epoll_pwait, open_epoll},
    {"sigtimedwait(1.5s)", 1.5, c_sigtimedwait},
    {"syscall(SYS_nanosleep)", 1.5, c_sys_nanosleep},
    {"syscall(SYS_poll)", 1.5, c_sys_poll},
    {"syscall(SYS_futex)", 1.5, c_sys_futex},
    {"sigsuspend", 1.5, c_sigsuspend},
    {"pause", 1.5, c_pause},
    {"nanosleep(3s)+SIGUSR1@1s", 1.0, c_nanosleep_usr1},
};
enum { kCalls = sizeof calls / sizeof calls[0] };

static void run_live(int expect_checkpoints) {
  handle(SIGALRM, on_alarm);
  make_usr1_timer();
  char msg[256];
  for (int i = 0; i < kCalls; ++i) {
    const struct call* c = &calls[i];
    if (c->before) c->before();
    printf("waiting %s\n", c->name);
    current = i;
    errno = 0;
    double t0 = now();
    int normal = c->run();
    double took = now() - t0;
    current = -1;
    fprintf(stderr, "%s: %.3f s, %d checkpoint(s) during it\n", c->name, took, hits[i]);
    if (!normal) {
      snprintf(msg, sizeof msg, "%s did not end as uninterrupted (errno %s) after %.3f s", c->name,
               strerror(errno), took);
      fail(msg);
    }
    if (took < c->full || took > c->full + 0.5) {
      snprintf(msg, sizeof msg, "%s took %.3f s instead of %.1f s", c->name, took, c->full);
      fail(msg);
    }
    if (expect_checkpoints && hits[i] == 0) {
      snprintf(msg, sizeof msg, "no checkpoint came during %s: the test tells nothing", c->name);
      fail(msg);
    }
    printf("ok: %s ended as without a checkpoint, after %.1f s\n", c->name, c->full);
  }
}

static void run_controls(void) {
  usr1_in(0.3);
  struct timespec req = ts_of(2.0), rem = {0, 0};
  double t0 = now();
  int r = nanosleep(&req, &rem);
  double took = now() - t0;
  if (!(r == -1 && errno == EINTR && usr1s == 1 && took < 1.0 && rem.tv_sec == 1))
    fail("control: SIGUSR1 should interrupt nanosleep(2s) with EINTR and 1.x s left");
  printf("ok: control: SIGUSR1 interrupts nanosleep with EINTR and the time left\n");

  usr1_in(0.3);
  errno = 0;
  unsigned left = sleep(3);
  if (!(left == 2 && errno == EINTR && usr1s == 1)) fail("control: SIGUSR1 should cut sleep(3) short, returning 2");
  printf("ok: control: SIGUSR1 cuts sleep(3) short, which returns 2\n");

  usr1_in(0.3);
  t0 = now();
  r = poll(NULL, 0, 2000);
  took = now() - t0;
  if (!(r == -1 && errno == EINTR && usr1s == 1 && took < 1.0)) fail("control: SIGUSR1 should interrupt poll with EINTR");
  printf("ok: control: SIGUSR1 interrupts poll with EINTR\n");

  timer_delete(usr1_timer);
  errno = 1234;
  if (usleep(1000) != 0 || errno != 1234) fail("usleep should leave errno alone when it succeeds");
  printf("ok: usleep leaves errno alone\n");
}

static void run_restore(int expect_restore) {
  char msg[256];
  printf("waiting sleep3\n");
  double t0 = now();
  unsigned left = sleep(3);
  double end = now(), took = end - t0;
  fprintf(stderr, "sleep(3): %.3f s in all", took);
  if (restores) fprintf(stderr, ", checkpoint at %.3f s, restored at %.3f s", ckpt_at - t0, restore_at - t0);
  fprintf(stderr, "\n");
  if (left != 0) {
    snprintf(msg, sizeof msg, "sleep(3) returned %u after %.3f s", left, took);
    fail(msg);
  }
  if (took < 3.0) {
    snprintf(msg, sizeof msg, "sleep(3) returned after %.3f s", took);
    fail(msg);
  }
  if (expect_restore && restores != 1) fail("the process was not restored during sleep(3)");
  if (restores) {
    /* What was left at the checkpoint is slept after the restore. */
    double owed = 3.0 - (ckpt_at - t0), slept = end - restore_at;
    if (slept < owed - 0.02) {
      snprintf(msg, sizeof msg, "after the restore sleep(3) slept %.3f s of the %.3f s left", slept, owed);
      fail(msg);
    }
  }
  printf("ok: sleep(3) returned 0 after its full time\n");
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char* mode = argc > 1 ? argv[1] : "";
  int flag = argc > 2 && (strcmp(argv[2], "--expect-checkpoints") == 0 || strcmp(argv[2], "--expect-restore") == 0);
  if (strcmp(mode, "list") == 0) {
    for (int i = 0; i < kCalls; ++i) printf("%s\n", calls[i].name);
    return 0;
  }
  int watched = watch_checkpoints();
  if (flag && !watched) fail("vproc_at_checkpoint is not there: not under vproc?");
  if (strcmp(mode, "live") == 0) {
    run_live(flag);
    run_controls();
  } else if (strcmp(mode, "restore") == 0) {
    run_restore(flag);
  } else {
    fprintf(stderr, "usage: ckpt_sleep list | live [--expect-checkpoints] | restore [--expect-restore]\n");
    return 2;
  }
  printf("EXIT-SUCCESS\n");
  return 0;
}
