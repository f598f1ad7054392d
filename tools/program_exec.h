// Finding and exec'ing a program the way bash does, so that `vproc-run CMD`
// fails exactly like `CMD` typed at a bash prompt: same messages (prefixed with
// our program name instead of "bash"), same exit statuses (127: not found,
// 126: found but not executable).
#pragma once

#include <string>

namespace vproc::tools {

inline constexpr int kExitNotFound = 127;
inline constexpr int kExitCannotExec = 126;

// bash's PATH when none is set.
inline constexpr const char kDefaultPath[] = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin:.";

// The first executable regular file called `name` in the ':'-separated
// `path_list` (an empty entry means the current directory); if there is none,
// the first non-directory of that name, which exec then refuses with "Permission
// denied" as bash's does; "" if neither exists.
std::string search_path(const std::string& name, const char* path_list);

// The file to exec for `name`: the name itself when it contains a '/', else the
// PATH search ($PATH, or kDefaultPath when unset). Checks what exec would check,
// so the error comes before any other work. Throws ToolError:
//   127 "NAME: command not found", "PATH: No such file or directory";
//   126 "PATH: Is a directory", "PATH: Permission denied", "PATH: <strerror>".
std::string resolve_program(const std::string& name);

// execve(path, argv, envp). Returns only by throwing ToolError shaped as above;
// a file the kernel does not recognise (ENOEXEC) is run by /bin/sh unless it
// looks binary, as bash and execvp(3) do.
[[noreturn]] void exec_program(const std::string& path, char* const argv[], char* const envp[]);

}  // namespace vproc::tools
