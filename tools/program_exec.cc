#include "program_exec.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tool_error.h"

namespace vproc::tools {
namespace {

bool executable(const std::string& file) { return faccessat(AT_FDCWD, file.c_str(), X_OK, AT_EACCESS) == 0; }

[[noreturn]] void fail_errno(const std::string& path, int err) {
  throw ToolError(err == ENOENT ? kExitNotFound : kExitCannotExec, path + ": " + strerror(err));
}

// bash's test before running an ENOEXEC file as a script: a NUL byte before the
// first newline of the first 80 bytes means a binary (of a foreign format).
bool looks_binary(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[80];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  for (ssize_t i = 0; i < n; ++i) {
    if (buf[i] == '\n') return false;
    if (buf[i] == '\0') return true;
  }
  return false;
}

}  // namespace

std::string search_path(const std::string& name, const char* path_list) {
  std::string fallback;
  const char* p = path_list;
  for (;;) {
    const char* end = strchrnul(p, ':');
    std::string dir(p, size_t(end - p));
    std::string file = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st;
    if (stat(file.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
      if (executable(file)) return file;
      if (fallback.empty()) fallback = file;
    }
    if (*end == '\0') break;
    p = end + 1;
  }
  return fallback;
}

std::string resolve_program(const std::string& name) {
  std::string path = name;
  if (name.find('/') == std::string::npos) {
    const char* env = getenv("PATH");
    path = name.empty() ? std::string() : search_path(name, env ? env : kDefaultPath);
    if (path.empty()) throw ToolError(kExitNotFound, name + ": command not found");
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) fail_errno(path, errno);
  if (S_ISDIR(st.st_mode)) throw ToolError(kExitCannotExec, path + ": Is a directory");
  if (!executable(path)) fail_errno(path, errno == ENOENT ? EACCES : errno);
  return path;
}

void exec_program(const std::string& path, char* const argv[], char* const envp[]) {
  execve(path.c_str(), argv, envp);
  int err = errno;
  struct stat st;
  switch (err) {
    case ENOEXEC: {
      if (looks_binary(path))
        throw ToolError(kExitCannotExec, path + ": cannot execute binary file: Exec format error");
      std::vector<char*> sh_argv{const_cast<char*>("/bin/sh"), const_cast<char*>(path.c_str())};
      for (char* const* a = argv[0] ? argv + 1 : argv; *a; ++a) sh_argv.push_back(*a);
      sh_argv.push_back(nullptr);
      execve("/bin/sh", sh_argv.data(), envp);
      fail_errno("/bin/sh", errno);
    }
    case ENOENT:
      // The file is there (resolve_program saw it), so what is missing is its
      // interpreter or dynamic loader; bash 5.2 says it this way.
      if (stat(path.c_str(), &st) == 0)
        throw ToolError(kExitNotFound, path + ": cannot execute: required file not found");
      fail_errno(path, err);
    case EACCES:
      if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        throw ToolError(kExitCannotExec, path + ": Is a directory");
      fail_errno(path, err);
    default:
      fail_errno(path, err);
  }
}

}  // namespace vproc::tools
