#include "daemon_autostart.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "program_env.h"
#include "program_exec.h"
#include "tool_error.h"

extern char** environ;

namespace vproc::tools {
namespace {

std::string exe_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string exe(buf, size_t(n));
  size_t slash = exe.rfind('/');
  return slash == std::string::npos ? std::string() : exe.substr(0, slash);
}

// Waits for `pid` to exit, at most `timeout_ms`. Returns its wait status, or -1
// on timeout (the child is then killed and reaped).
int wait_bounded(pid_t pid, int timeout_ms) {
  int pidfd = int(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int r;
    do r = poll(&p, 1, timeout_ms); while (r < 0 && errno == EINTR);
    close(pidfd);
    if (r == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return -1;
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

}  // namespace

std::string find_vprocd() {
  if (std::string dir = exe_dir(); !dir.empty()) {
    std::string beside = dir + "/vprocd";
    if (access(beside.c_str(), X_OK) == 0) return beside;
  }
  const char* path = getenv("PATH");
  std::string found = search_path("vprocd", path ? path : kDefaultPath);
  return !found.empty() && access(found.c_str(), X_OK) == 0 ? found : std::string();
}

void start_private_daemon(const std::string& socket_path, int timeout_ms) {
  std::string vprocd = find_vprocd();
  if (vprocd.empty())
    throw ToolError(1, "no vproc daemon is running and vprocd was not found (neither beside vproc-run nor in "
                       "PATH); start one with 'vprocd --socket " + socket_path + "'");

  std::vector<std::string> args{vprocd, "--idle-exit", "30", "--socket", socket_path};
  std::vector<char*> argv = c_strings(args);
  std::vector<std::string> env = daemon_environment(environ);
  std::vector<char*> envp = c_strings(env);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int err = posix_spawn(&pid, vprocd.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) throw ToolError(1, "cannot start " + vprocd + ": " + strerror(err));

  int status = wait_bounded(pid, timeout_ms);
  if (status == -1)
    throw ToolError(1, vprocd + " did not report a listening socket within " + std::to_string(timeout_ms / 1000) +
                           " s; gave up on it");
  if (WIFSIGNALED(status))
    throw ToolError(1, vprocd + " was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                           strsignal(WTERMSIG(status)) + ") while starting");
  if (WEXITSTATUS(status) != 0)
    throw ToolError(1, vprocd + " could not start a daemon at " + socket_path + " (exit status " +
                           std::to_string(WEXITSTATUS(status)) + ")");
}

}  // namespace vproc::tools
