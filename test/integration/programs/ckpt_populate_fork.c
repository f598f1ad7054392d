/* The program integration/ckpt_populate_fork.sh checkpoints and restores
 * lazily (run it under vproc-run):
 *
 *   ckpt_populate_fork IMAGE MIB DIR
 *
 * Fills MIB MiB with a known pattern and calls vproc_checkpoint(IMAGE); the
 * original then exits 0. The restored copy forks at once, while libvproc's
 * threads are still populating its pages from the image: with fork() (which
 * libvproc sees), or with daemon() if DIR/daemon exists (glibc forks inside
 * it, past libvproc's wrappers; the restored process itself exits 0 there).
 * Parent and child each wait until no thread but their own is left (their
 * pages are private copies), create DIR/populated.parent or
 * DIR/populated.child, wait for DIR/go (the test overwrites the image first),
 * and check every byte; the child writes "child ok" (or "child MISMATCH") to
 * DIR/child.out. The parent prints "parent ok" or "parent MISMATCH" and exits
 * 0 only if both are ok. Every wait gives up after 30 s. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t pattern(uint64_t i) { return i * 0x9e3779b97f4a7c15ull ^ (i >> 7); }

/* The kernel's count of our tasks: libvproc's populating threads included. */
static int thread_count(void) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  int n = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "Threads: %d", &n) == 1) break;
  if (f) fclose(f);
  return n;
}

static void pause_ms(long ms) { nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000}, NULL); }

static int wait_for(int (*done)(const char*), const char* arg) {
  for (int i = 0; i < 30000; ++i) {
    if (done(arg)) return 1;
    pause_ms(1);
  }
  return 0;
}

static int alone(const char* unused) { (void)unused; return thread_count() == 1; }
static int exists(const char* path) { return access(path, F_OK) == 0; }

static void touch(const char* dir, const char* name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE* f = fopen(path, "w");
  if (f) fclose(f);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s IMAGE MIB DIR\n", argv[0]);
    return 2;
  }
  int (*ckpt)(const char*) = (int (*)(const char*))dlsym(RTLD_DEFAULT, "vproc_checkpoint");
  if (!ckpt) {
    fprintf(stderr, "%s: no vproc_checkpoint (run it under vproc-run)\n", argv[0]);
    return 2;
  }
  size_t words = ((size_t)atoi(argv[2]) << 20) / 8;
  const char* dir = argv[3];
  uint64_t* p = mmap(NULL, words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  for (size_t i = 0; i < words; ++i) p[i] = pattern(i);

  int r = ckpt(argv[1]);
  if (r < 0) return 1;
  if (r == 0) return 0;

  char path[4096];
  snprintf(path, sizeof path, "%s/daemon", dir);
  pid_t child;
  if (exists(path)) {
    if (daemon(1, 1) != 0) {
      perror("daemon");
      return 1;
    }
    child = 0;
  } else {
    child = fork();
  }
  if (child < 0) {
    perror("fork");
    return 1;
  }
  const char* role = child == 0 ? "child" : "parent";
  char go[4096], name[64];
  snprintf(go, sizeof go, "%s/go", dir);
  snprintf(name, sizeof name, "populated.%s", role);
  if (!wait_for(alone, NULL)) fprintf(stderr, "%s: still populating after 30 s\n", role);
  touch(dir, name);
  if (!wait_for(exists, go)) fprintf(stderr, "%s: no %s after 30 s\n", role, go);
  size_t i = 0;
  while (i < words && p[i] == pattern(i)) ++i;
  int ok = i == words;
  if (child == 0) {
    snprintf(path, sizeof path, "%s/child.out", dir);
    FILE* f = fopen(path, "w");
    if (f) fprintf(f, "child %s\n", ok ? "ok" : "MISMATCH");
    if (f) fclose(f);
    _exit(ok ? 0 : 1);
  }
  int st = 0;
  waitpid(child, &st, 0);
  printf("parent %s\n", ok ? "ok" : "MISMATCH");
  if (!ok) printf("first difference at byte %zu\n", i * 8);
  return ok && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
