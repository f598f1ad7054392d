/* A single-threaded sleep(5), checkpointed while it sleeps
 * (ckpt_thread_stress.sh): the original and a restored copy must both sleep
 * the whole time.
 *
 *   sleep_five [--expect-checkpoint]
 *
 * Prints "sleeping 5", calls sleep(5), then "sleep(5) returned 0" and
 * "elapsed >= 5 s: yes" (wall-clock time since the call; "no" if less) and
 * EXIT-SUCCESS; exit status 1 if sleep returned early. Under vproc it learns
 * of checkpoints and restores (vproc_at_checkpoint/vproc_at_restore, found
 * with dlsym) and checks that after a restore it slept what was left at the
 * checkpoint; --expect-checkpoint fails a run no checkpoint reached. Details
 * go to stderr; stdout does not depend on timing. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile double ckpt_at, restore_at;
static volatile int checkpoints, restores;

static double clock_s(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
/* Wall-clock time: it goes on while a checkpointed process is down. */
static double now(void) { return clock_s(CLOCK_REALTIME); }

static void on_checkpoint(void* arg) {
  (void)arg;
  ckpt_at = now();
  checkpoints++;
}
static void on_restore(void* arg) {
  (void)arg;
  restore_at = now();
  restores++;
}

static void watch_checkpoints(void) {
  typedef int (*hook_fn)(void (*)(void*), void*);
  hook_fn at_ckpt = (hook_fn)dlsym(RTLD_DEFAULT, "vproc_at_checkpoint");
  hook_fn at_restore = (hook_fn)dlsym(RTLD_DEFAULT, "vproc_at_restore");
  if (at_ckpt) at_ckpt(on_checkpoint, NULL);
  if (at_restore) at_restore(on_restore, NULL);
}

int main(int argc, char** argv) {
  int expect = argc > 1 && strcmp(argv[1], "--expect-checkpoint") == 0;
  setvbuf(stdout, NULL, _IONBF, 0);
  watch_checkpoints();
  printf("sleeping 5\n");
  double t0 = now();
  unsigned left = sleep(5);
  double end = now(), took = end - t0;
  fprintf(stderr, "sleep(5): %.3f s in all", took);
  if (checkpoints) fprintf(stderr, ", checkpoint at %.3f s", ckpt_at - t0);
  if (restores) fprintf(stderr, ", restored at %.3f s", restore_at - t0);
  fprintf(stderr, "\n");
  printf("sleep(5) returned %u\n", left);
  printf("elapsed >= 5 s: %s\n", took >= 5.0 ? "yes" : "no");
  if (left != 0 || took < 5.0) return 1;
  if (expect && !checkpoints) {
    fprintf(stderr, "FAILED: no checkpoint reached the sleep\n");
    return 1;
  }
  if (restores) {
    /* What was left at the checkpoint is slept after the restore. */
    double owed = 5.0 - (ckpt_at - t0), slept = end - restore_at;
    fprintf(stderr, "after the restore: slept %.3f s of the %.3f s left\n", slept, owed);
    if (slept < owed - 0.02) {
      fprintf(stderr, "FAILED: the restored sleep was cut short\n");
      return 1;
    }
  }
  printf("EXIT-SUCCESS\n");
  return 0;
}
