// posix_spawn under vproc, shared by posix_spawn[p], system() and popen().
#pragma once

#include <spawn.h>

namespace vproc::lib {

// Like posix_spawn (search_path: posix_spawnp). The child gets a vpid from the
// lease and learns it from VPROC_SELF=<vpid>:0:<us>:<our real pid> (its real pid
// is not known before it runs). *pid receives the vpid (the real pid when no
// vpid could be had). Returns 0 or an error number, as posix_spawn does.
int spawn_child(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                const posix_spawnattr_t* attr, char* const argv[], char* const envp[],
                bool search_path);

}  // namespace vproc::lib
