/* Thread ids across a checkpoint. Workers wait in sem_wait() and two more
 * threads sleep in cancellation points (nanosleep, pause) while the main
 * thread passes the checkpoint point. Afterwards: every gettid() is what it
 * was and distinct; /proc/self/task/<tid>, /proc/<pid>/task/<tid> and
 * /proc/thread-self name the thread (status Name: is pthread_setname_np's,
 * Pid: is the tid, the /proc/self/task listing has exactly our threads);
 * pthread_kill, pthread_sigqueue, tgkill, syscall(SYS_tgkill), SYS_tkill and a
 * SIGEV_THREAD_ID timer reach the targeted worker (its handler's gettid());
 * pthread_cancel ends the sleepers; pthread_join returns each value. */
#include "scenario.h"

#include <dirent.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

enum { kWorkers = 3 };

struct worker {
  int index;
  pthread_t th;
  pid_t tid, tid_after, raw_after;
  char thread_self[64], expected_self[64];
  sem_t go;
};

static struct worker workers[kWorkers];
static sem_t ready;
static volatile int stop_workers;

/* What the handler saw, per signal number. */
struct seen {
  pid_t tid, pid;
  uid_t uid;
  int code, value;
};
static volatile struct seen last[65];
static volatile int hits;

static void on_signal(int sig, siginfo_t* si, void* uc) {
  (void)uc;
  last[sig].tid = gettid();
  last[sig].code = si->si_code;
  if (si->si_code != SI_TIMER) {
    last[sig].pid = si->si_pid;
    last[sig].uid = si->si_uid;
  }
  last[sig].value = si->si_code == SI_QUEUE ? si->si_value.sival_int : 0;
  __atomic_add_fetch(&hits, 1, __ATOMIC_SEQ_CST);
}

static void await_hits(int n, const char* what) {
  for (int i = 0; i < 5000 && __atomic_load_n(&hits, __ATOMIC_SEQ_CST) < n; i++) usleep(1000);
  require(__atomic_load_n(&hits, __ATOMIC_SEQ_CST) >= n, "%s: the signal was handled", what);
}

static void wait_go(struct worker* w) {
  while (sem_wait(&w->go) != 0)
    if (errno != EINTR) fail("sem_wait: %s", strerror(errno));
}

static void* worker_main(void* arg) {
  struct worker* w = arg;
  w->tid = gettid();
  sem_post(&ready);
  wait_go(w); /* the main thread passes the checkpoint point meanwhile */
  w->tid_after = gettid();
  w->raw_after = (pid_t)syscall(SYS_gettid);
  ssize_t n = readlink("/proc/thread-self", w->thread_self, sizeof w->thread_self - 1);
  w->thread_self[n > 0 ? n : 0] = '\0';
  snprintf(w->expected_self, sizeof w->expected_self, "%d/task/%d", (int)getpid(), (int)gettid());
  sem_post(&ready);
  /* Signals arrive here, each interrupting a sem_wait (EINTR, waited again). */
  while (!stop_workers) wait_go(w);
  return (void*)(intptr_t)(1000 + w->index);
}

static void* sleeper_main(void* arg) {
  sem_post(&ready);
  if (arg) {
    struct timespec t = {600, 0};
    nanosleep(&t, NULL);
  } else {
    for (;;) pause();
  }
  return NULL; /* never: cancelled */
}

/* "Key:\tvalue" of a /proc status file, copied into out. */
static int status_field(const char* path, const char* key, char* out, size_t len) {
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  char line[256];
  size_t kl = strlen(key);
  int found = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, key, kl) && line[kl] == ':') {
      const char* v = line + kl + 1;
      while (*v == ' ' || *v == '\t') v++;
      snprintf(out, len, "%s", v);
      out[strcspn(out, "\n")] = '\0';
      found = 0;
      break;
    }
  fclose(f);
  return found;
}

static int has_tid(const pid_t* tids, int n, pid_t t) {
  for (int i = 0; i < n; i++)
    if (tids[i] == t) return 1;
  return 0;
}

int main(void) {
  pid_t me = pid_seen(getpid());
  struct sigaction sa = {0};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: the workers' sem_wait sees EINTR */
  int timer_sig = SIGRTMIN + 1;
  must(sigaction(SIGUSR1, &sa, NULL));
  must(sigaction(SIGUSR2, &sa, NULL));
  must(sigaction(timer_sig, &sa, NULL));
  /* Only the targeted thread may take these. */
  sigset_t mine;
  sigemptyset(&mine);
  sigaddset(&mine, SIGUSR1);
  sigaddset(&mine, SIGUSR2);
  sigaddset(&mine, timer_sig);
  must(-pthread_sigmask(SIG_BLOCK, &mine, NULL));

  must(sem_init(&ready, 0, 0));
  for (int i = 0; i < kWorkers; i++) {
    struct worker* w = &workers[i];
    w->index = i;
    must(sem_init(&w->go, 0, 0));
    sigset_t none;
    sigemptyset(&none);
    pthread_attr_t attr;
    must(-pthread_attr_init(&attr));
    must(-pthread_attr_setsigmask_np(&attr, &none));
    must(-pthread_create(&w->th, &attr, worker_main, w));
    pthread_attr_destroy(&attr);
    char name[16];
    snprintf(name, sizeof name, "idw-%d", i);
    must(-pthread_setname_np(w->th, name));
  }
  pthread_t sleepers[2];
  must(-pthread_create(&sleepers[0], NULL, sleeper_main, (void*)1)); /* nanosleep */
  must(-pthread_create(&sleepers[1], NULL, sleeper_main, NULL));     /* pause */
  for (int i = 0; i < kWorkers + 2; i++) must(sem_wait(&ready));
  for (int i = 0; i < kWorkers; i++) {
    pid_seen(workers[i].tid);
    require(workers[i].tid != me, "worker %d: gettid() != getpid()", i);
    for (int j = 0; j < i; j++) require(workers[i].tid != workers[j].tid, "workers %d, %d: distinct tids", j, i);
  }
  check(1, "%d workers: distinct gettid(), none is getpid()", kWorkers);

  usleep(20000); /* let the sleepers reach their calls */
  SCENARIO_CKPT_POINT(); /* workers in sem_wait, sleepers in nanosleep and pause */

  check(gettid() == me, "main thread after the point: gettid() == getpid()");
  for (int i = 0; i < kWorkers; i++) sem_post(&workers[i].go);
  for (int i = 0; i < kWorkers; i++) must(sem_wait(&ready));
  for (int i = 0; i < kWorkers; i++) {
    struct worker* w = &workers[i];
    require(w->tid_after == w->tid, "worker %d: gettid() after the point is the one before", i);
    require(w->raw_after == w->tid, "worker %d: syscall(SYS_gettid) == gettid()", i);
    require(!strcmp(w->thread_self, w->expected_self), "worker %d: /proc/thread-self is %s, not %s", i,
            w->thread_self, w->expected_self);
  }
  check(1, "workers after the point: gettid() unchanged, == syscall(SYS_gettid), /proc/thread-self = <pid>/task/<tid>");

  /* /proc by thread id. */
  for (int i = 0; i < kWorkers; i++) {
    struct worker* w = &workers[i];
    char path[128], name[64], pid_field[32], tgid_field[32], want[16];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)w->tid);
    require(status_field(path, "Name", name, sizeof name) == 0, "read %s", "/proc/self/task/<tid>/status");
    snprintf(want, sizeof want, "idw-%d", i);
    require(!strcmp(name, want), "worker %d: status Name: is %s, not %s", i, name, want);
    require(status_field(path, "Pid", pid_field, sizeof pid_field) == 0, "status Pid:");
    require(atoi(pid_field) == w->tid, "worker %d: status Pid: is its gettid()", i);
    require(status_field(path, "Tgid", tgid_field, sizeof tgid_field) == 0, "status Tgid:");
    require(atoi(tgid_field) == me, "worker %d: status Tgid: is getpid()", i);

    snprintf(path, sizeof path, "/proc/%d/task/%d/comm", (int)me, (int)w->tid);
    FILE* f = fopen(path, "r");
    require(f && fgets(name, sizeof name, f), "read /proc/<pid>/task/<tid>/comm");
    fclose(f);
    name[strcspn(name, "\n")] = '\0';
    require(!strcmp(name, want), "worker %d: comm is %s, not %s", i, name, want);

    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/task/%d", (int)me, (int)w->tid);
    require(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "stat(/proc/<pid>/task/<tid>)");
    snprintf(path, sizeof path, "/proc/self/task/%d", (int)w->tid);
    DIR* d = opendir(path);
    require(d != NULL, "opendir(/proc/self/task/<tid>)");
    closedir(d);
  }
  check(1, "/proc/self/task/<tid>/status: Name: as pthread_setname_np, Pid: == tid, Tgid: == getpid()");
  check(1, "/proc/<pid>/task/<tid>/comm, stat and opendir of the thread directories");

  /* The listing has exactly our threads: main, workers, sleepers. */
  pid_t listed[64];
  int nlisted = 0;
  DIR* d = opendir("/proc/self/task");
  require(d != NULL, "opendir(/proc/self/task)");
  for (struct dirent* e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && nlisted < 64) listed[nlisted++] = pid_seen(atoi(e->d_name));
  closedir(d);
  int listed_ok = nlisted == kWorkers + 3 && has_tid(listed, nlisted, me);
  for (int i = 0; i < kWorkers; i++) listed_ok = listed_ok && has_tid(listed, nlisted, workers[i].tid);
  check(listed_ok, "/proc/self/task lists %d threads: the main thread's and each worker's gettid()", kWorkers + 3);

  /* Signals aimed at one thread run its handler on that thread. */
  int n = 0;
  must(-pthread_kill(workers[0].th, SIGUSR1));
  await_hits(++n, "pthread_kill");
  check(last[SIGUSR1].tid == workers[0].tid && last[SIGUSR1].code == SI_TKILL,
        "pthread_kill: handled on the target worker (gettid()), si_code SI_TKILL");
  check(pid_seen(last[SIGUSR1].pid) == me && last[SIGUSR1].uid == getuid(), "pthread_kill: si_pid == getpid(), si_uid == getuid()");

  union sigval v = {.sival_int = 4242};
  must(-pthread_sigqueue(workers[1].th, SIGUSR2, v));
  await_hits(++n, "pthread_sigqueue");
  check(last[SIGUSR2].tid == workers[1].tid && last[SIGUSR2].code == SI_QUEUE && last[SIGUSR2].value == 4242,
        "pthread_sigqueue: handled on the target worker, SI_QUEUE, value 4242");
  check(pid_seen(last[SIGUSR2].pid) == me && last[SIGUSR2].uid == getuid(),
        "pthread_sigqueue: si_pid == getpid(), si_uid == getuid()");

  must(tgkill(me, workers[2].tid, SIGUSR1));
  await_hits(++n, "tgkill");
  check(last[SIGUSR1].tid == workers[2].tid && pid_seen(last[SIGUSR1].pid) == me,
        "tgkill(getpid(), tid): handled on that worker, si_pid == getpid()");
  must(syscall(SYS_tgkill, me, workers[1].tid, SIGUSR1));
  await_hits(++n, "syscall(SYS_tgkill)");
  check(last[SIGUSR1].tid == workers[1].tid, "syscall(SYS_tgkill, getpid(), tid): handled on that worker");
  must(syscall(SYS_tkill, workers[0].tid, SIGUSR2));
  await_hits(++n, "syscall(SYS_tkill)");
  check(last[SIGUSR2].tid == workers[0].tid && last[SIGUSR2].code == SI_TKILL,
        "syscall(SYS_tkill, tid): handled on that worker");

  /* A timer whose signal goes to one thread. */
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = timer_sig;
  sev.sigev_value.sival_int = 7;
  sev.sigev_notify_thread_id = workers[2].tid;
  timer_t timer;
  must(timer_create(CLOCK_MONOTONIC, &sev, &timer));
  struct itimerspec its = {{0, 0}, {0, 10 * 1000 * 1000}};
  must(timer_settime(timer, 0, &its, NULL));
  await_hits(++n, "SIGEV_THREAD_ID timer");
  check(last[timer_sig].tid == workers[2].tid && last[timer_sig].code == SI_TIMER,
        "timer_create(SIGEV_THREAD_ID, worker's tid): its signal ran on that worker, SI_TIMER");
  must(timer_delete(timer));
  sev.sigev_notify_thread_id = SCENARIO_FIRST_VPID * 2 - 1; /* nobody's tid, in any mode */
  check(timer_create(CLOCK_MONOTONIC, &sev, &timer) == -1 && errno == EINVAL,
        "timer_create(SIGEV_THREAD_ID, no such thread): EINVAL");

  /* Cancel the sleepers. */
  for (int i = 0; i < 2; i++) {
    void* r = NULL;
    must(-pthread_cancel(sleepers[i]));
    must(-pthread_join(sleepers[i], &r));
    check(r == PTHREAD_CANCELED, "pthread_cancel of a thread in %s: joined, PTHREAD_CANCELED",
          i == 0 ? "nanosleep" : "pause");
  }

  stop_workers = 1;
  for (int i = 0; i < kWorkers; i++) sem_post(&workers[i].go);
  int joined = 1;
  for (int i = 0; i < kWorkers; i++) {
    void* r = NULL;
    must(-pthread_join(workers[i].th, &r));
    joined = joined && r == (void*)(intptr_t)(1000 + i);
  }
  check(joined, "pthread_join returns each worker's value");
  return scenario_done();
}
