// popen() and pclose(), on top of our posix_spawn (glibc's popen spawns
// through an internal call we cannot see, so its child would miss its identity).
//
// Which stream belongs to which child is kept in a fixed table in
// ProcessState, not on the heap; the only allocation is the FILE from fdopen.
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libc_boundary.h"
#include "real_fn.h"
#include "spawn_child.h"
#include "state.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(popen);
VPROC_REAL(pclose);

namespace {

constexpr uintptr_t kFilling = 1;  // slot claimed, not yet published

PopenSlot* claim_slot() {
  for (PopenSlot& s : state().popen_files) {
    uintptr_t free = 0;
    if (s.file.compare_exchange_strong(free, kFilling, std::memory_order_acq_rel)) return &s;
  }
  return nullptr;
}

void release_slot(PopenSlot* s) {
  s->fd = -1;
  s->pid = 0;
  s->file.store(0, std::memory_order_release);
}

// Mode: "r" or "w", then optionally 'e' (close-on-exec for our end), as glibc.
bool parse_mode(const char* mode, bool* reading, bool* cloexec) {
  if (!mode || (mode[0] != 'r' && mode[0] != 'w')) return false;
  *reading = mode[0] == 'r';
  *cloexec = false;
  for (const char* p = mode + 1; *p; ++p) {
    if (*p != 'e') return false;
    *cloexec = true;
  }
  return true;
}

// Runs the command with the child's end of the pipe as its stdout ("r") or
// stdin ("w"). POSIX: streams of earlier popen() calls are not inherited.
int start_command(const char* command, int child_end, int target, const PopenSlot* self, pid_t* pid) {
  posix_spawn_file_actions_t fa;
  if (int r = posix_spawn_file_actions_init(&fa)) return r;
  int rc = 0;
  for (const PopenSlot& s : state().popen_files) {
    uintptr_t f = s.file.load(std::memory_order_acquire);
    if (&s != self && f > kFilling && s.fd >= 0 && s.fd != target && s.fd != child_end)
      if ((rc = posix_spawn_file_actions_addclose(&fa, s.fd))) break;
  }
  // The pipe was made close-on-exec; dup2 to the target clears that on the copy.
  if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, child_end, target);
  if (!rc) {
    char sh[] = "sh", dash_c[] = "-c", dashes[] = "--";
    char* argv[] = {sh, dash_c, dashes, const_cast<char*>(command), nullptr};
    rc = spawn_child(pid, "/bin/sh", &fa, nullptr, argv, environ, false);
  }
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

}  // namespace

VPROC_EXPORT FILE* popen(const char* command, const char* mode) noexcept {
  if (!active()) return real_popen(command, mode);
  bool reading, cloexec;
  if (!command || !parse_mode(mode, &reading, &cloexec)) {
    errno = EINVAL;
    return nullptr;
  }
  PopenSlot* slot = claim_slot();
  if (!slot) {
    errno = EMFILE;  // more popen streams open than the table holds
    return nullptr;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    release_slot(slot);
    return nullptr;
  }
  int ours = reading ? fds[0] : fds[1];
  int child_end = reading ? fds[1] : fds[0];
  int target = reading ? STDOUT_FILENO : STDIN_FILENO;
  if (child_end == target) {
    // The program had closed that standard fd, so the pipe got its number; a
    // dup2 onto itself would leave close-on-exec set. Move it out of the way.
    int moved = fcntl(child_end, F_DUPFD_CLOEXEC, 3);
    if (moved < 0) {
      int e = errno;
      close(fds[0]);
      close(fds[1]);
      release_slot(slot);
      errno = e;
      return nullptr;
    }
    close(child_end);
    child_end = moved;
  }
  // The FILE first: if that fails there is no child to clean up after.
  FILE* f = fdopen(ours, reading ? "r" : "w");
  if (!f) {
    int e = errno;
    close(ours);
    close(child_end);
    release_slot(slot);
    errno = e;
    return nullptr;
  }
  pid_t pid = 0;
  int rc = start_command(command, child_end, target, slot, &pid);
  close(child_end);
  if (rc != 0) {
    fclose(f);
    release_slot(slot);
    errno = rc;
    return nullptr;
  }
  if (!cloexec) fcntl(ours, F_SETFD, 0);  // without 'e' our end is inheritable, as in glibc
  slot->pid = pid;
  slot->fd = ours;
  slot->file.store(reinterpret_cast<uintptr_t>(f), std::memory_order_release);
  return f;
}

VPROC_EXPORT int pclose(FILE* stream) noexcept {
  if (!active()) return real_pclose(stream);
  PopenSlot* slot = nullptr;
  for (PopenSlot& s : state().popen_files)
    if (stream && s.file.load(std::memory_order_acquire) == reinterpret_cast<uintptr_t>(stream)) {
      slot = &s;
      break;
    }
  // Not one of ours: glibc's pclose of such a stream is fclose.
  if (!slot) return real_pclose(stream);
  pid_t pid = slot->pid;
  release_slot(slot);
  fclose(stream);  // the command sees EOF (or SIGPIPE) and can finish
  int status;
  pid_t r;
  do r = waitpid(pid, &status, 0);
  while (r < 0 && errno == EINTR);
  return r == pid ? status : -1;
}
