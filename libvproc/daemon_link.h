// The process's link to its node daemon.
//
// One persistent SOCK_STREAM connection (high fd number, close-on-exec, closed in
// fork children). Sends are single write(2)s under a lock that records its
// owner's tid: other threads wait for it (bounded by the 2 s timeout), so one
// process's messages arrive in order; a signal handler that interrupted the
// owner itself uses a fresh short-lived connection instead, so nothing here can
// deadlock. One-way messages that cannot be delivered (daemon down) wait in a
// small queue and are re-sent when the daemon is back, after re-registering
// (Hello, then Spawned for every child) if the daemon was restarted.
#pragma once

#include "wire.h"

namespace vproc::lib {

// Sends a one-way message (Spawned, Reaped). Never blocks on the daemon's answer.
void notify(const wire::Request& msg);

// Reaped{vpid}, sent together with the next message this process sends (or
// when 16 are waiting): one daemon wake-up per fork/wait cycle instead of two.
// Until then the daemon shows the child as a zombie, which its pidfd told it;
// should the process never talk to the daemon again, the daemon's sweep finds
// the child reaped on its own.
void notify_reaped_later(uint32_t vpid);

// Sends what notify_reaped_later() kept (before an exec replaces the process).
void link_flush();

// Sends a request and waits for its reply (bounded by a timeout). Returns 0, or
// -errno (-ECONNREFUSED/-ENOENT when no daemon, -ETIMEDOUT, -EPROTO).
int round_trip(const wire::Request& req, wire::Reply& reply);

// Called in a fork child: forget the parent's connection without closing the
// parent's socket state (the fd is closed in the child only).
void link_after_fork_child();

// Library fds must survive programs that dup2() onto or close() them.
bool is_link_fd(int fd);
// Moves the link's fd away from `fd` if it is using it (dup2 target about to be
// taken by the program).
void link_vacate_fd(int fd);

}  // namespace vproc::lib
