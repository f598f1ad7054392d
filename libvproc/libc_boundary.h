// The edge between libvproc and the program: exported wrappers and errno.
//
// Inside the library, helpers return -errno like the kernel; a wrapper turns
// that into the libc convention (-1 and errno) only when it returns to the
// program, so errno is never clobbered on a successful call.
#pragma once

#include <errno.h>

// An exported libc wrapper (everything else in the library is hidden).
#define VPROC_EXPORT extern "C" __attribute__((visibility("default")))

namespace vproc::lib {

// -1 with errno = err (a positive errno value, or a negative -errno).
inline int fail_errno(int err) {
  errno = err < 0 ? -err : err;
  return -1;
}

}  // namespace vproc::lib

// Code that runs in every fork child before it returns to the program. The
// child's page tables start without the library's text, so each 64 KiB window
// of code it runs is a page fault; `hot` gathers these functions into one
// section (.text.hot) so they share a window.
#define VPROC_FORK_CHILD_PATH __attribute__((hot))
