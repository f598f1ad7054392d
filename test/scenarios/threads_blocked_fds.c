/* Threads waiting on descriptors across a checkpoint: read() on a pipe,
 * poll(), select() and epoll_wait() on pipes, each ended by a write after the
 * point, and poll/epoll_wait with a timeout on a pipe nobody writes. None may
 * see EINTR; the timed ones last at least their time by CLOCK_MONOTONIC.
 * (The checkpoint has to save the pipes and the epoll instance.) */
#include "scenario.h"

#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

enum { kRead, kPoll, kSelect, kEpoll, kPollTimeout, kEpollTimeout, kThreads };
static const char* const kNames[kThreads] = {"read() on a pipe",       "poll() on a pipe",
                                             "select() on a pipe",     "epoll_wait() on a pipe",
                                             "poll() with a timeout",  "epoll_wait() with a timeout"};

static const int kTimeoutMs = 600;

struct report {
  volatile int blocking;
  volatile pid_t tid;
  pthread_t th;
  int fds[2];  /* the pipe it waits on */
  int epfd;
  int64_t elapsed_ns;
  long result;
  int err, eintr;
  char byte;
};
static struct report rep[kThreads];

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void* thread_main(void* arg) {
  int i = (int)(intptr_t)arg;
  struct report* r = &rep[i];
  int fd = r->fds[0];
  struct pollfd p = {fd, POLLIN, 0};
  struct epoll_event ev;
  int64_t start = now_ns();
  r->tid = gettid();
  __atomic_store_n(&r->blocking, 1, __ATOMIC_SEQ_CST);
  long res;
  for (;;) {
    switch (i) {
      case kRead: res = read(fd, &r->byte, 1); break;
      case kPoll: res = poll(&p, 1, -1); break;
      case kSelect: {
        fd_set set;
        FD_ZERO(&set);
        FD_SET(fd, &set);
        struct timeval tv = {30, 0};
        res = select(fd + 1, &set, NULL, NULL, &tv);
        if (res == 1 && !FD_ISSET(fd, &set)) res = -2;
        break;
      }
      case kEpoll: res = epoll_wait(r->epfd, &ev, 1, -1); break;
      case kPollTimeout: res = poll(&p, 1, kTimeoutMs); break;
      default: res = epoll_wait(r->epfd, &ev, 1, kTimeoutMs); break;
    }
    if (res == -1 && errno == EINTR) {
      r->eintr = 1; /* noted, and waited again so the run still ends */
      continue;
    }
    break;
  }
  r->elapsed_ns = now_ns() - start;
  r->result = res;
  r->err = res == -1 ? errno : 0;
  return NULL;
}

static void await_blocked(int i) { scenario_await_asleep(&rep[i].blocking, &rep[i].tid, kNames[i]); }

int main(void) {
  for (int i = 0; i < kThreads; i++) {
    struct report* r = &rep[i];
    must(pipe(r->fds));
    r->epfd = -1;
    if (i == kEpoll || i == kEpollTimeout) {
      r->epfd = must(epoll_create1(EPOLL_CLOEXEC));
      struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
      must(epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->fds[0], &ev));
    }
  }
  for (int i = 0; i < kThreads; i++) must(-pthread_create(&rep[i].th, NULL, thread_main, (void*)(intptr_t)i));
  for (int i = 0; i < kThreads; i++) await_blocked(i);

  SCENARIO_CKPT_POINT(); /* every thread waiting on its descriptor */

  for (int i = kRead; i <= kEpoll; i++) must(write(rep[i].fds[1], "x", 1));
  for (int i = 0; i < kThreads; i++) must(-pthread_join(rep[i].th, NULL));

  for (int i = 0; i < kThreads; i++) {
    struct report* r = &rep[i];
    require(!r->eintr, "%s: EINTR", kNames[i]);
    if (i == kPollTimeout || i == kEpollTimeout) {
      require(r->result == 0, "%s: returned %ld (%s)", kNames[i], r->result, strerror(r->err));
      require(r->elapsed_ns >= (int64_t)kTimeoutMs * 1000000, "%s: waited its full time", kNames[i]);
      check(1, "%s: 0 after its full time, no EINTR", kNames[i]);
    } else if (i == kRead) {
      check(r->result == 1 && r->byte == 'x', "%s: got the byte written after the point, no EINTR", kNames[i]);
    } else {
      check(r->result == 1, "%s: ready once written after the point, no EINTR", kNames[i]);
    }
  }
  for (int i = 0; i < kThreads; i++) {
    close(rep[i].fds[0]);
    close(rep[i].fds[1]);
    if (rep[i].epfd >= 0) close(rep[i].epfd);
  }
  return scenario_done();
}
