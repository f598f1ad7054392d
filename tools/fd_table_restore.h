// The checkpointed process's descriptor table, rebuilt by `vproc restore` at
// the original numbers before it execs the restorer (descriptors survive
// execve; the restorer only marks close-on-exec ones, PlanFds::cloexec).
//
// Two steps, so that a failure changes nothing: prepare() opens and checks
// every descriptor at a temporary high number (close-on-exec); install() then
// moves them into place, which can no longer fail for a reason of the image's.
//  - regular files: reopened by path with the saved flags (never creating or
//    truncating), at the saved offset. Refused when the file was replaced (on
//    the same host: another device/inode) or is shorter than at the
//    checkpoint (truncated or rewritten): the process would silently see
//    other data. A file that only grew (a log) is accepted.
//  - deleted files: a new unlinked file (O_TMPFILE beside the old path, else
//    in /tmp) with the contents from the image;
//  - directories, /dev/null, /dev/zero, /dev/urandom, /dev/random: reopened;
//  - fds 0-2 that were stdio or a terminal: the tool's own are kept;
//  - other terminals: the tool's terminal (its first tty among 0-2), else
//    /dev/tty;
//  - pipes: a new pipe of the saved size, refilled with the bytes that were
//    buffered in it; its first read and write descriptors are the pipe's
//    ends, further ones (opened through /proc) are opened again that way;
//  - eventfds: a new one with the saved counter and semaphore mode;
//  - epoll instances: a new one; its registrations are added by install()
//    (they name fds by number, so the fds must be in place first), after
//    prepare() checked that each watched descriptor can be watched;
//  - sameAs: a duplicate of the lower descriptor (shared offset and flags).
// O_NONBLOCK is restored on pipes, eventfds and epoll instances.
#pragma once

#include <vector>

#include "image_reader.h"

namespace vproc::tools {

struct PreparedFd {
  int target = -1;       // the number the process had
  int temp = -1;         // our copy, close-on-exec; -1: the tool's own (stdio)
  bool cloexec = false;  // the process had O_CLOEXEC
  std::vector<image::EpollWatch> watches;  // an epoll instance's registrations
};

// Opens every descriptor of IMG at numbers >= TEMP_BASE. Throws ToolError
// (status 1) naming the descriptor and the problem; closes what it opened.
std::vector<PreparedFd> prepare_fds(const image::ImageFile& img, int temp_base);

// Moves each prepared descriptor to its number (not close-on-exec), closes
// the temporaries, and registers the epoll instances' watches. Throws
// ToolError if dup2 or epoll_ctl fails.
void install_fds(const std::vector<PreparedFd>& fds);

// Closes the temporaries of a preparation that will not be installed.
void discard_fds(const std::vector<PreparedFd>& fds);

}  // namespace vproc::tools
