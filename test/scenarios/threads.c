/* Thread ids: gettid() in the main thread is getpid(); other threads have
 * their own ids, consistent with syscall(SYS_gettid), usable with tgkill and
 * /proc/<pid>/task/<tid>, gone (ESRCH) once the thread is joined. A fork from
 * a thread gives a child whose main thread id is its pid. */
#include "scenario.h"

#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>

enum { kThreads = 4 };

struct thread_report {
  pid_t tid, raw_tid, pid;
  int tgkill0;
  pid_t handler_tid, handler_si_pid;
};

static volatile pid_t handler_tid, handler_si_pid;
static volatile sig_atomic_t handler_hits;

static void on_usr1(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)uc;
  handler_tid = gettid();
  handler_si_pid = si->si_pid;
  handler_hits++;
}

static pthread_barrier_t ready, go_on;

/* A thread that forks; the child checks its ids, the thread reaps it. */
struct forker {
  pid_t child;
  int status;
};

static void* forker_main(void* arg) {
  struct forker* f = arg;
  pid_t parent = getpid();
  fflush(stdout);
  pid_t c = fork();
  if (c == 0) {
    if (gettid() != getpid()) _exit(10);
    if (getpid() == parent) _exit(11);
    if (getppid() != parent) _exit(12);
    if (syscall(SYS_gettid) != getpid()) _exit(13);
    _exit(0);
  }
  f->child = c;
  if (c > 0 && waitpid(c, &f->status, 0) != c) f->status = -1;
  return NULL;
}

static void* thread_main(void* arg) {
  struct thread_report* r = arg;
  r->tid = pid_seen(gettid());
  r->raw_tid = (pid_t)syscall(SYS_gettid);
  r->pid = getpid();
  r->tgkill0 = tgkill(getpid(), r->tid, 0);
  pthread_barrier_wait(&ready);  /* main looks at us, signals us */
  pthread_barrier_wait(&go_on);
  return NULL;
}

int main(void) {
  pid_t me = pid_seen(getpid());
  check(gettid() == me, "main thread: gettid() == getpid()");
  check(syscall(SYS_gettid) == me, "main thread: syscall(SYS_gettid) == getpid()");
  SCENARIO_CKPT_POINT();

  struct sigaction sa = {0};
  sa.sa_sigaction = on_usr1;
  sa.sa_flags = SA_SIGINFO;
  must(sigaction(SIGUSR1, &sa, NULL));

  pthread_t th[kThreads];
  struct thread_report rep[kThreads];
  memset(rep, 0, sizeof rep);
  must(-pthread_barrier_init(&ready, NULL, kThreads + 1));
  must(-pthread_barrier_init(&go_on, NULL, kThreads + 1));
  for (int i = 0; i < kThreads; i++) must(-pthread_create(&th[i], NULL, thread_main, &rep[i]));
  pthread_barrier_wait(&ready);

  int distinct = 1;
  for (int i = 0; i < kThreads; i++)
    for (int j = 0; j < i; j++)
      if (rep[i].tid == rep[j].tid) distinct = 0;
  for (int i = 0; i < kThreads; i++) {
    require(rep[i].tid != me, "thread %d: gettid() != getpid()", i);
    require(rep[i].raw_tid == rep[i].tid, "thread %d: syscall(SYS_gettid) == gettid()", i);
    require(rep[i].pid == me, "thread %d: getpid() is the process's pid", i);
    require(rep[i].tgkill0 == 0, "thread %d: tgkill(getpid(), own tid, 0) == 0", i);
  }
  check(1, "%d threads: gettid() != getpid(), == syscall(SYS_gettid), getpid() shared, tgkill(.., 0) ok",
        kThreads);
  check(distinct, "thread ids are distinct");
  check(tgkill(me, rep[0].tid, 0) == 0, "tgkill(getpid(), thread's tid, 0) from the main thread == 0");
  check(syscall(SYS_tkill, rep[1].tid, 0) == 0, "tkill(thread's tid, 0) == 0");

  char path[96];
  struct stat st;
  snprintf(path, sizeof path, "/proc/%d/task/%d", (int)me, (int)rep[2].tid);
  check(stat(path, &st) == 0, "stat(/proc/<getpid()>/task/<thread's tid>) succeeded");

  /* A signal aimed at one thread runs its handler on that thread. */
  sigset_t usr1, old;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  must(-pthread_sigmask(SIG_BLOCK, &usr1, &old)); /* only the target thread may take it */
  must(tgkill(me, rep[3].tid, SIGUSR1));
  for (int i = 0; i < 5000 && !handler_hits; i++) usleep(1000);
  check(handler_hits == 1, "the tgkill'd signal was handled");
  check(handler_tid == rep[3].tid, "it ran on the target thread (gettid() in the handler)");
  check(pid_seen(handler_si_pid) == me, "its si_pid is our pid");
  must(-pthread_sigmask(SIG_SETMASK, &old, NULL));

  pthread_barrier_wait(&go_on);
  for (int i = 0; i < kThreads; i++) must(-pthread_join(th[i], NULL));

  /* The kernel frees a tid when its thread exits; the joined thread's id is gone. */
  int gone = 0;
  for (int i = 0; i < 2000 && !gone; i++) {
    if (tgkill(me, rep[0].tid, 0) == -1 && errno == ESRCH) gone = 1;
    else usleep(1000);
  }
  check(gone, "after pthread_join, tgkill(getpid(), old tid, 0): ESRCH");

  /* fork() from a non-main thread. */
  struct forker f = {0, 0};
  pthread_t t;
  must(-pthread_create(&t, NULL, forker_main, &f));
  must(-pthread_join(t, NULL));
  check(pid_seen(f.child) > 0, "fork() from a thread returned a child");
  check(WIFEXITED(f.status) && WEXITSTATUS(f.status) == 0,
        "the thread-forked child: gettid() == getpid() != parent's, getppid() == parent's pid");
  SCENARIO_CKPT_POINT(); /* every thread joined */
  check(gettid() == me, "main thread at the end: gettid() == getpid()");
  return scenario_done();
}
