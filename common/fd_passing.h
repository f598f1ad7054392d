// Receiving file descriptors passed over a Unix socket (SCM_RIGHTS).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <vector>

namespace vproc {

// One recvmsg(MSG_DONTWAIT | MSG_CMSG_CLOEXEC) of up to `len` bytes into
// `buf`; the descriptors that came with them are appended to `fds`. Returns
// what recvmsg returns (-1 with errno set). `*truncated` (if given) tells
// whether the kernel dropped descriptors for want of room (MSG_CTRUNC: more
// than 8 in one message).
ssize_t recv_with_fds(int fd, void* buf, size_t len, std::vector<int>& fds, bool* truncated = nullptr);

}  // namespace vproc
