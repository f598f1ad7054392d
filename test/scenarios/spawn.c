/* Process creation other than fork(): posix_spawn of this program (the child
 * checks its identity against what the parent saw), posix_spawnp of a shell,
 * POSIX_SPAWN_SETPGROUP, system() and popen()/pclose() with their statuses,
 * and the shells they start seeing us as their parent. */
#include "scenario.h"

#include <limits.h>
#include <spawn.h>

extern char** environ;

static char self_path[PATH_MAX];

/* Runs as "spawn child PARENT_PID REPORT_FD": reports its pid, checks its parent. */
static int spawned_child(char** argv) {
  pid_t parent = pid_seen((pid_t)atoi(argv[2]));
  int fd = atoi(argv[3]);
  send_pid(fd, pid_seen(getpid()));
  if (pid_seen(getppid()) != parent) return 10;
  return 5;
}

static void test_posix_spawn_self(void) {
  int report[2];
  must(pipe(report));
  char parent[16], fd[16];
  snprintf(parent, sizeof parent, "%d", (int)getpid());
  snprintf(fd, sizeof fd, "%d", report[1]);
  char* args[] = {"spawn", "child", parent, fd, NULL};
  pid_t c = 0;
  int err = posix_spawn(&c, self_path, NULL, NULL, args, environ);
  check(err == 0, "posix_spawn of this program succeeded");
  pid_seen(c);
  pid_t reported = recv_pid(report[0]);
  check(reported == c, "the spawned child's getpid() equals the pid posix_spawn returned");
  expect_exit(c, 5, "spawned child (it saw us as its parent)");
  close(report[0]);
  close(report[1]);
}

static void test_posix_spawnp(void) {
  pid_t c = 0;
  char* args[] = {"sh", "-c", "exit 7", NULL};
  int err = posix_spawnp(&c, "sh", NULL, NULL, args, environ);
  check(err == 0, "posix_spawnp(\"sh\") succeeded");
  pid_seen(c);
  expect_exit(c, 7, "posix_spawnp sh -c 'exit 7'");

  char* killer[] = {"sh", "-c", "kill -TERM $$; sleep 5", NULL};
  err = posix_spawnp(&c, "sh", NULL, NULL, killer, environ);
  check(err == 0, "posix_spawnp of a self-killing shell succeeded");
  int s = wait_for(pid_seen(c));
  check(WIFSIGNALED(s) && WTERMSIG(s) == SIGTERM, "the shell killed itself with its own $$: signal 15");

  char* missing[] = {"vproc-no-such-program", NULL};
  err = posix_spawnp(&c, "vproc-no-such-program", NULL, NULL, missing, environ);
  check(err == ENOENT, "posix_spawnp of a missing program: ENOENT");
}

static void test_spawn_setpgroup(void) {
  posix_spawnattr_t attr;
  must(-posix_spawnattr_init(&attr));
  must(-posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP));
  must(-posix_spawnattr_setpgroup(&attr, 0));
  pid_t c = 0;
  char* args[] = {"sh", "-c", "read x; exit 0", NULL};
  int in[2];
  must(pipe(in));
  posix_spawn_file_actions_t fa;
  must(-posix_spawn_file_actions_init(&fa));
  must(-posix_spawn_file_actions_adddup2(&fa, in[0], 0));
  must(-posix_spawn_file_actions_addclose(&fa, in[1]));
  int err = posix_spawnp(&c, "sh", &fa, &attr, args, environ);
  check(err == 0, "posix_spawnp with POSIX_SPAWN_SETPGROUP succeeded");
  close(in[0]);
  check(pid_seen(getpgid(c)) == c, "the spawned child leads its own group");
  close(in[1]);
  expect_exit(c, 0, "spawned group leader");
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
}

/* Reads one integer from a file written by a shell. */
static long read_number(const char* path) {
  FILE* f = fopen(path, "r");
  if (!f) fail("open %s: %s", path, strerror(errno));
  long v = -1;
  if (fscanf(f, "%ld", &v) != 1) fail("no number in %s", path);
  fclose(f);
  return v;
}

static void test_system(const char* dir) {
  int s = system("exit 3");
  check(WIFEXITED(s) && WEXITSTATUS(s) == 3, "system(\"exit 3\"): exit status 3");
  s = system("exit 0");
  check(WIFEXITED(s) && WEXITSTATUS(s) == 0, "system(\"exit 0\"): exit status 0");
  s = system("kill -TERM $$");
  check(WIFSIGNALED(s) && WTERMSIG(s) == SIGTERM, "system() of a shell killing itself: signal 15");
  char cmd[1024], path[300];
  snprintf(path, sizeof path, "%s/system-ids", dir);
  snprintf(cmd, sizeof cmd, "echo $$ > %s.pid; echo $PPID > %s.ppid", path, path);
  s = system(cmd);
  check(WIFEXITED(s) && WEXITSTATUS(s) == 0, "system() writing $$ and $PPID");
  char p1[320], p2[320];
  snprintf(p1, sizeof p1, "%s.pid", path);
  snprintf(p2, sizeof p2, "%s.ppid", path);
  pid_t sh = pid_seen((pid_t)read_number(p1));
  pid_t shppid = pid_seen((pid_t)read_number(p2));
  check(sh != getpid(), "system()'s shell has its own pid");
  check(shppid == getpid(), "system()'s shell sees us as its parent ($PPID)");
  unlink(p1);
  unlink(p2);
}

static void test_popen(const char* dir) {
  FILE* f = popen("echo hello; echo $PPID; exit 4", "r");
  check(f != NULL, "popen(\"r\") succeeded");
  char line[64] = {0}, ppid[64] = {0};
  check(fgets(line, sizeof line, f) && strcmp(line, "hello\n") == 0, "popen: read the child's output");
  check(fgets(ppid, sizeof ppid, f) && pid_seen((pid_t)atol(ppid)) == getpid(),
        "popen's shell sees us as its parent ($PPID)");
  int s = pclose(f);
  check(s != -1 && WIFEXITED(s) && WEXITSTATUS(s) == 4, "pclose: exit status 4");

  char cmd[1024], path[300];
  snprintf(path, sizeof path, "%s/popen-out", dir);
  snprintf(cmd, sizeof cmd, "cat > %s; exit 2", path);
  f = popen(cmd, "w");
  check(f != NULL, "popen(\"w\") succeeded");
  fputs("written through popen\n", f);
  s = pclose(f);
  check(s != -1 && WIFEXITED(s) && WEXITSTATUS(s) == 2, "pclose of the writer: exit status 2");
  FILE* r = fopen(path, "r");
  char got[64] = {0};
  check(r && fgets(got, sizeof got, r) && strcmp(got, "written through popen\n") == 0,
        "the popen writer's data arrived");
  if (r) fclose(r);
  unlink(path);

  f = popen("kill -KILL $$", "r");
  check(f != NULL, "popen of a self-killing shell succeeded");
  s = pclose(f);
  check(s != -1 && WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL, "pclose: killed by signal 9");
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "child") == 0) return spawned_child(argv);
  if (!realpath(argv[0], self_path) && readlink("/proc/self/exe", self_path, sizeof self_path - 1) < 0)
    fail("cannot find this program's path");
  const char* dir = scenario_tmpdir("spawn");
  SCENARIO_CKPT_POINT();
  test_posix_spawn_self();
  test_posix_spawnp();
  SCENARIO_CKPT_POINT();
  test_spawn_setpgroup();
  test_system(dir);
  SCENARIO_CKPT_POINT();
  test_popen(dir);
  rmdir(dir);
  return scenario_done();
}
