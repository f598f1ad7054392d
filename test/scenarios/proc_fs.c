/* /proc seen through pids the program knows: /proc/<pid>/status and stat
 * carry the same pids as getpid()/getppid()/getpgrp(); /proc/<child>/cmdline is
 * the child's argv; /proc/self and /proc/thread-self name us; stat/access/
 * opendir/chdir work on /proc/<pid>; a reaped child's entry is gone (ENOENT). */
#include "scenario.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

static char self_path[PATH_MAX];

static ssize_t read_file(const char* path, char* buf, size_t len) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, len - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = 0;
  return (ssize_t)n;
}

/* The number after "Field:\t" in a /proc/<pid>/status text, or -1. */
static long status_field(const char* text, const char* field) {
  char key[32];
  snprintf(key, sizeof key, "\n%s:", field);
  const char* p = strstr(text, key);
  if (!p && strncmp(text, key + 1, strlen(key + 1)) == 0) p = text - 1;
  if (!p) return -1;
  return strtol(p + strlen(key), NULL, 10);
}

/* Fields 1 (pid), 4 (ppid), 5 (pgrp), 6 (session) of a /proc/<pid>/stat text. */
static int stat_fields(const char* text, long* pid, long* ppid, long* pgrp, long* sid) {
  *pid = strtol(text, NULL, 10);
  const char* close_paren = strrchr(text, ')');
  if (!close_paren) return -1;
  char state;
  return sscanf(close_paren + 1, " %c %ld %ld %ld", &state, ppid, pgrp, sid) == 4 ? 0 : -1;
}

/* Checks /proc/<pid>/status and /proc/<pid>/stat of the calling process. */
static void check_own_entries(const char* who, int own_group) {
  char path[64], text[8192];
  pid_t me = pid_seen(getpid());
  snprintf(path, sizeof path, "/proc/%d/status", (int)me);
  check(read_file(path, text, sizeof text) > 0, "%s: read /proc/<getpid()>/status", who);
  check(status_field(text, "Pid") == me, "%s: status Pid: equals getpid()", who);
  check(status_field(text, "Tgid") == me, "%s: status Tgid: equals getpid()", who);
  check(status_field(text, "PPid") == getppid(), "%s: status PPid: equals getppid()", who);
  check(read_file("/proc/self/status", text, sizeof text) > 0 && status_field(text, "Pid") == me,
        "%s: /proc/self/status Pid: equals getpid()", who);

  long pid, ppid, pgrp, sid;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)me);
  check(read_file(path, text, sizeof text) > 0 && stat_fields(text, &pid, &ppid, &pgrp, &sid) == 0,
        "%s: read and parse /proc/<getpid()>/stat", who);
  check(pid == me && ppid == getppid(), "%s: stat pid and ppid fields equal getpid() and getppid()", who);
  if (own_group) check(pgrp == getpgrp(), "%s: stat pgrp field equals getpgrp()", who);

  /* The command name: exec set it to the program's file name (15 bytes at
   * most), and a restored process must have it back. */
  char comm[16];
  const char* base = strrchr(self_path, '/');
  snprintf(comm, sizeof comm, "%.15s", base ? base + 1 : self_path);
  char expect[64];
  snprintf(expect, sizeof expect, "%s\n", comm);
  if (read_file("/proc/self/comm", text, sizeof text) < 0) text[0] = 0;
  int same = strcmp(text, expect) == 0;
  text[strcspn(text, "\n")] = 0;
  require(same, "%s: /proc/self/comm is '%.40s', not '%s'", who, text, comm);
  check(1, "%s: /proc/self/comm is the program's name", who);
  snprintf(expect, sizeof expect, "(%s)", comm);
  check(read_file("/proc/self/stat", text, sizeof text) > 0 && strstr(text, expect) != NULL,
        "%s: /proc/self/stat names the program", who);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[n > 0 ? n : 0] = 0;
  require(strcmp(exe, self_path) == 0, "%s: /proc/self/exe is '%.150s', not '%.150s'", who, exe, self_path);
  check(1, "%s: /proc/self/exe is the program", who);
}

static void test_self_links(void) {
  char buf[128];
  ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
  check(n > 0, "readlink(/proc/self) succeeded");
  buf[n > 0 ? n : 0] = 0;
  check(atol(buf) == pid_seen(getpid()), "readlink(/proc/self) equals getpid()");
  n = readlink("/proc/thread-self", buf, sizeof buf - 1);
  check(n > 0, "readlink(/proc/thread-self) succeeded");
  buf[n > 0 ? n : 0] = 0;
  char expect[64];
  snprintf(expect, sizeof expect, "%d/task/%d", (int)getpid(), (int)gettid());
  check(strcmp(buf, expect) == 0, "readlink(/proc/thread-self) is <getpid()>/task/<gettid()>");
}

static void test_stat_access_dir(void) {
  char path[64];
  struct stat st;
  snprintf(path, sizeof path, "/proc/%d", (int)getpid());
  check(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "stat(/proc/<getpid()>): a directory");
  check(lstat(path, &st) == 0, "lstat(/proc/<getpid()>) succeeded");
  snprintf(path, sizeof path, "/proc/%d/status", (int)getpid());
  check(access(path, R_OK) == 0, "access(/proc/<getpid()>/status, R_OK) succeeded");
  snprintf(path, sizeof path, "/proc/%d/task/%d", (int)getpid(), (int)gettid());
  check(stat(path, &st) == 0, "stat(/proc/<getpid()>/task/<gettid()>) succeeded");
  snprintf(path, sizeof path, "/proc/%d/fd", (int)getpid());
  DIR* d = opendir(path);
  check(d != NULL, "opendir(/proc/<getpid()>/fd) succeeded");
  if (d) closedir(d);
  snprintf(path, sizeof path, "/proc/%d/comm", (int)getpid());
  FILE* f = fopen(path, "r");
  check(f != NULL, "fopen(/proc/<getpid()>/comm) succeeded");
  if (f) fclose(f);

  char cwd[PATH_MAX];
  must(getcwd(cwd, sizeof cwd) ? 0 : -1);
  snprintf(path, sizeof path, "/proc/%d", (int)getpid());
  check(chdir(path) == 0, "chdir(/proc/<getpid()>) succeeded");
  int fd = open("comm", O_RDONLY);
  check(fd >= 0, "a relative open inside it works");
  if (fd >= 0) close(fd);
  must(chdir(cwd));
}

/* A child that execs this program with a known argv and waits to be read. */
static void test_child_cmdline(void) {
  int ready[2], hold[2];
  must(pipe(ready));
  must(pipe(hold));
  char ready_fd[16], hold_fd[16];
  snprintf(ready_fd, sizeof ready_fd, "%d", ready[1]);
  snprintf(hold_fd, sizeof hold_fd, "%d", hold[0]);
  pid_t c = fork_checked();
  if (c == 0) {
    close(hold[1]);
    char* args[] = {self_path, "cmdline-child", ready_fd, hold_fd, "two words", "", "last", NULL};
    execv(self_path, args);
    _exit(127);
  }
  close(hold[0]);
  close(ready[1]);
  char token;
  read_all(ready[0], &token, 1);

  char path[64], text[8192];
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)c);
  ssize_t n = read_file(path, text, sizeof text);
  char expect[512];
  int m = snprintf(expect, sizeof expect, "%s%ccmdline-child%c%s%c%s%ctwo words%c%clast%c", self_path, 0,
                   0, ready_fd, 0, hold_fd, 0, 0, 0, 0);
  check(n == m && memcmp(text, expect, (size_t)m) == 0, "/proc/<child>/cmdline equals the child's argv");

  snprintf(path, sizeof path, "/proc/%d/status", (int)c);
  check(read_file(path, text, sizeof text) > 0, "read /proc/<child>/status");
  check(status_field(text, "Pid") == c, "the child's status Pid: is the pid fork() returned");
  check(status_field(text, "PPid") == getpid(), "the child's status PPid: is our getpid()");
  snprintf(path, sizeof path, "/proc/%d/stat", (int)c);
  long pid, ppid, pgrp, sid;
  check(read_file(path, text, sizeof text) > 0 && stat_fields(text, &pid, &ppid, &pgrp, &sid) == 0 &&
            pid == c && ppid == getpid(),
        "the child's stat: pid and ppid fields match");

  close(hold[1]);
  expect_exit(c, 0, "the cmdline child");

  /* Reaped: its /proc entry must be gone. */
  errno = 0;
  check(open(path, O_RDONLY) == -1 && errno == ENOENT, "open(/proc/<reaped child>/stat): ENOENT");
  snprintf(path, sizeof path, "/proc/%d", (int)c);
  struct stat st;
  errno = 0;
  check(stat(path, &st) == -1 && errno == ENOENT, "stat(/proc/<reaped child>): ENOENT");
  errno = 0;
  check(open("/proc/4194999/status", O_RDONLY) == -1 && errno == ENOENT,
        "open(/proc/<unknown pid>/status): ENOENT");
  close(ready[0]);
}

static void test_in_child(void) {
  pid_t c = fork_checked();
  if (c == 0) {
    setpgid(0, 0);
    check_own_entries("child", 1);
    _exit(0);
  }
  expect_exit(c, 0, "child checking its own /proc entries");
}

static void test_dirfd_relative(void) {
  int proc = open("/proc", O_RDONLY | O_DIRECTORY);
  check(proc >= 0, "open(/proc) as a directory");
  char rel[64], text[8192];
  snprintf(rel, sizeof rel, "%d/status", (int)getpid());
  int fd = openat(proc, rel, O_RDONLY);
  check(fd >= 0, "openat(/proc fd, \"<getpid()>/status\") succeeded");
  ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
  text[n > 0 ? n : 0] = 0;
  check(status_field(text, "Pid") == getpid(), "openat(/proc fd, ...): status Pid: equals getpid()");
  if (fd >= 0) close(fd);
  close(proc);
}

int main(int argc, char** argv) {
  if (!realpath(argv[0], self_path)) fail("realpath(%s): %s", argv[0], strerror(errno));
  if (argc >= 4 && strcmp(argv[1], "cmdline-child") == 0) {
    write_all(atoi(argv[2]), "r", 1);
    char c;
    while (read(atoi(argv[3]), &c, 1) < 0 && errno == EINTR) {
    }
    return 0;
  }
  SCENARIO_CKPT_POINT();
  check_own_entries("self", 0);
  test_self_links();
  test_stat_access_dir();
  test_child_cmdline();
  SCENARIO_CKPT_POINT();
  test_in_child();
  test_dirfd_relative();
  SCENARIO_CKPT_POINT();
  check_own_entries("self at the end", 0);
  test_self_links();
  return scenario_done();
}
