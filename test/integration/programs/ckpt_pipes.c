/* Pipes, an epoll instance and eventfds across a checkpoint (ckpt_pipes.sh).
 *
 *   ckpt_pipes [--unsaveable] GO_FILE
 *
 * Sets up, then prints "ready" and waits until GO_FILE exists (the test
 * checkpoints, kills and restores it meanwhile):
 *  - a self-pipe of 256 KiB holding 100000 unread bytes, its read end
 *    O_NONBLOCK, its write end also at fd 100 (a dup, not close-on-exec);
 *  - a pipe a worker thread is blocked reading;
 *  - a counting eventfd at 5 and a semaphore eventfd at 3;
 *  - an epoll instance watching the self-pipe (edge-triggered), both eventfds
 *    and the worker's pipe (nothing to read there).
 * Then prints what it finds: the ready events, the buffered bytes (count and
 * hash), the eventfds' counters, the fds' flags and the pipe's size, a
 * registration changed with EPOLL_CTL_MOD (it must be found by its fd
 * number), a write through the dup, and the worker's byte. Only facts that are
 * the same in an uninterrupted run, so the output is byte-identical.
 * --unsaveable: also keeps the read end of a pipe whose write end it closed,
 * and a second epoll instance watching an fd closed since (its file is still
 * open at another fd): a checkpoint must refuse both (output unchanged). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum { kBuffered = 100000, kDupFd = 100 };

static void fail(const char* what) {
  printf("FAILED: %s (%s)\n", what, strerror(errno));
  fprintf(stderr, "FAILED: %s (%s)\n", what, strerror(errno));
  exit(1);
}

static int self_pipe[2], work_pipe[2];

static void* worker(void* arg) {
  (void)arg;
  char c = 0;
  ssize_t n = read(work_pipe[0], &c, 1);
  if (n != 1) fail("worker read");
  printf("worker: got '%c'\n", c);
  return NULL;
}

static uint64_t fnv1a(const unsigned char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static const char* yes(int b) { return b ? "yes" : "no"; }

int main(int argc, char** argv) {
  int unsaveable = argc == 3 && strcmp(argv[1], "--unsaveable") == 0;
  if (argc != 2 + unsaveable) {
    fprintf(stderr, "usage: ckpt_pipes [--unsaveable] GO_FILE\n");
    return 2;
  }
  const char* go = argv[1 + unsaveable];
  int half_pipe[2];
  if (unsaveable && (pipe(half_pipe) != 0 || close(half_pipe[1]) != 0)) fail("the half pipe");
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (pipe2(self_pipe, O_CLOEXEC) != 0 || pipe(work_pipe) != 0) fail("pipe");
  if (fcntl(self_pipe[1], F_SETPIPE_SZ, 256 * 1024) < 0) fail("F_SETPIPE_SZ");
  static unsigned char data[kBuffered];
  uint32_t x = 1;
  for (int i = 0; i < kBuffered; i++) data[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 24);
  for (size_t done = 0; done < sizeof data;) {
    ssize_t n = write(self_pipe[1], data + done, sizeof data - done);
    if (n <= 0) fail("filling the self-pipe");
    done += (size_t)n;
  }
  if (fcntl(self_pipe[0], F_SETFL, O_NONBLOCK) != 0) fail("O_NONBLOCK");
  if (dup2(self_pipe[1], kDupFd) != kDupFd) fail("dup2");
  int counter = eventfd(5, EFD_CLOEXEC);
  int sem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (counter < 0 || sem < 0 || ep < 0) fail("eventfd/epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 1};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, self_pipe[0], &ev) != 0) fail("epoll_ctl self-pipe");
  ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = 2};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, counter, &ev) != 0) fail("epoll_ctl counter");
  ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = 3};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, sem, &ev) != 0) fail("epoll_ctl semaphore");
  ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = 4};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, work_pipe[0], &ev) != 0) fail("epoll_ctl worker pipe");
  if (unsaveable) {
    int stale = epoll_create1(EPOLL_CLOEXEC), d = dup(self_pipe[0]);
    ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = 6};
    if (stale < 0 || d < 0 || epoll_ctl(stale, EPOLL_CTL_ADD, d, &ev) != 0 || close(d) != 0) fail("the stale watch");
  }
  pthread_t th;
  if (pthread_create(&th, NULL, worker, NULL) != 0) fail("pthread_create");

  printf("ready\n");
  for (int waited = 0; access(go, F_OK) != 0; waited++) {
    if (waited > 6000) fail("nobody created the go file in 60 s");
    usleep(10000);
  }

  /* Ready: the self-pipe and both eventfds, in the order of their data. */
  struct epoll_event got[8];
  int n = epoll_wait(ep, got, 8, 0);
  if (n < 0) fail("epoll_wait");
  uint64_t ready = 0;
  for (int i = 0; i < n; i++) ready |= 1ull << got[i].data.u64;
  printf("epoll: %d ready:%s%s%s%s\n", n, ready & 2 ? " self-pipe" : "", ready & 4 ? " counter" : "",
         ready & 8 ? " semaphore" : "", ready & 16 ? " worker-pipe" : "");

  static unsigned char back[kBuffered + 1];
  size_t have = 0;
  for (;;) {
    ssize_t r = read(self_pipe[0], back + have, sizeof back - have);
    if (r < 0 && errno == EAGAIN) break;
    if (r <= 0) fail("reading the self-pipe");
    have += (size_t)r;
  }
  printf("self-pipe: %zu bytes buffered, %s, hash %016llx\n", have,
         have == kBuffered && memcmp(back, data, kBuffered) == 0 ? "as written" : "DIFFERENT",
         (unsigned long long)fnv1a(back, have));
  printf("self-pipe: size %d, read end nonblocking %s, close-on-exec %s/%s, dup close-on-exec %s\n",
         fcntl(self_pipe[0], F_GETPIPE_SZ), yes(fcntl(self_pipe[0], F_GETFL) & O_NONBLOCK),
         yes(fcntl(self_pipe[0], F_GETFD) & FD_CLOEXEC), yes(fcntl(self_pipe[1], F_GETFD) & FD_CLOEXEC),
         yes(fcntl(kDupFd, F_GETFD) & FD_CLOEXEC));

  uint64_t v = 0;
  if (read(counter, &v, sizeof v) != sizeof v) fail("read counter");
  printf("counter: %llu, nonblocking %s\n", (unsigned long long)v, yes(fcntl(counter, F_GETFL) & O_NONBLOCK));
  int taken = 0;
  while (read(sem, &v, sizeof v) == sizeof v) taken++;
  printf("semaphore: taken %d times, then %s\n", taken, errno == EAGAIN ? "EAGAIN" : strerror(errno));

  /* The registration is found by the number it was added with. */
  ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = 5};
  printf("epoll_ctl MOD of the self-pipe: %s\n",
         epoll_ctl(ep, EPOLL_CTL_MOD, self_pipe[0], &ev) == 0 ? "ok" : strerror(errno));
  printf("epoll_ctl ADD of the semaphore again: %s\n",
         epoll_ctl(ep, EPOLL_CTL_ADD, sem, &ev) == 0 ? "ok" : strerror(errno));

  /* One pipe: written through the dup, read through the read end. */
  if (write(kDupFd, "via dup", 7) != 7) fail("write through the dup");
  char text[16] = {0};
  if (read(self_pipe[0], text, sizeof text - 1) != 7) fail("read back");
  printf("self-pipe: read back '%s'\n", text);
  n = epoll_wait(ep, got, 8, 0);
  printf("epoll: %d ready after that (data %llu)\n", n, n > 0 ? (unsigned long long)got[0].data.u64 : 0ull);

  if (write(work_pipe[1], "w", 1) != 1) fail("write to the worker");
  if (pthread_join(th, NULL) != 0) fail("pthread_join");
  printf("EXIT-SUCCESS\n");
  return 0;
}
