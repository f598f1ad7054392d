#include "daemon_link.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>

#include <variant>

#include "diag.h"
#include "lease.h"
#include "raw_syscall.h"
#include "spawn_ring_writer.h"
#include "state.h"
#include "libc_boundary.h"
#include "preload_rules.h"

namespace vproc::lib {
namespace {

constexpr int64_t kTimeoutNs = 2'000'000'000;  // a round trip gives up after 2 s
// Where the link's fd goes: far above the numbers programs use (shells move
// their own fds to 10 and 255), below the usual soft limit of 1024.
constexpr long kHighFdFloor = 900;

// Through libc: the vDSO answers without a system call (twice per fork), and
// clock_gettime is async-signal-safe.
int64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Waits for `events` on fd until `deadline`. 0 when ready, else -errno.
int wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - now_ns();
    if (left <= 0) return -ETIMEDOUT;
    struct pollfd p = {fd, events, 0};
    struct timespec ts = {left / 1'000'000'000, left % 1'000'000'000};
    long r = raw::sys(SYS_ppoll, &p, 1, &ts, nullptr, 0);
    if (r == -EINTR) continue;
    if (raw::failed(r)) return int(r);
    if (r == 0) return -ETIMEDOUT;
    if (p.revents & POLLNVAL) return -EBADF;
    return 0;  // ready, or POLLERR/POLLHUP: the next send/recv reports why
  }
}

// The lowest fd number the link may use: kHighFdFloor, or near the top of a
// smaller RLIMIT_NOFILE.
long high_fd_floor() {
  struct rlimit rl;
  if (!raw::failed(raw::sys(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &rl)) &&
      rl.rlim_cur < rlim_t(kHighFdFloor + 64))
    return long(rl.rlim_cur) > 64 ? long(rl.rlim_cur) - 32 : 3;
  return kHighFdFloor;
}

// Moves fd to a high number (close-on-exec kept) so it stays out of the way of
// programs that assume the low numbers are theirs.
int move_high(int fd) {
  long nfd = raw::sys(SYS_fcntl, fd, F_DUPFD_CLOEXEC, high_fd_floor());
  if (raw::failed(nfd)) return fd;  // no room up there: keep the low number
  raw::sys(SYS_close, fd);
  return int(nfd);
}

// A new connection to the daemon, or -errno (-ENOENT: no socket file,
// -ECONNREFUSED: nobody listening).
int open_connection(int64_t deadline) {
  const char* path = state().socket_path;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  size_t len = 0;
  while (path[len] && len < sizeof addr.sun_path - 1) {
    addr.sun_path[len] = path[len];
    ++len;
  }
  if (len == 0 || path[len]) return -ENAMETOOLONG;
  long fd = raw::sys(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (raw::failed(fd)) return int(fd);
  for (;;) {
    long r = raw::sys(SYS_connect, fd, &addr, sizeof addr);
    if (r == 0) break;
    // A Unix stream connect fails with EAGAIN while the listener's backlog is
    // full: the daemon is busy, not gone. Retry briefly.
    if ((r == -EAGAIN || r == -EINTR) && now_ns() < deadline) {
      struct timespec ms = {0, 1'000'000};
      raw::sys(SYS_nanosleep, &ms, nullptr);
      continue;
    }
    raw::sys(SYS_close, fd);
    return r == -EAGAIN ? -ETIMEDOUT : int(r);
  }
  return move_high(int(fd));
}

int send_frame(int fd, const void* buf, size_t len, int64_t deadline) {
  size_t off = 0;
  while (off < len) {
    // MSG_NOSIGNAL: a daemon that went away must not kill the program with SIGPIPE.
    long r = raw::sys(SYS_sendto, fd, static_cast<const char*>(buf) + off, len - off,
                      MSG_NOSIGNAL, nullptr, 0);
    if (r == -EAGAIN) {
      if (int w = wait_fd(fd, POLLOUT, deadline)) return w;
      continue;
    }
    if (r == -EINTR) continue;
    if (raw::failed(r)) return int(r);
    off += size_t(r);
  }
  return 0;
}

// Reads exactly one frame into buf (cap bytes, 8-aligned). Returns its length or -errno.
long recv_frame(int fd, void* buf, size_t cap, int64_t deadline) {
  char* p = static_cast<char*>(buf);
  size_t have = 0, need = 8;
  for (;;) {
    while (have < need) {
      long r = raw::sys(SYS_recvfrom, fd, p + have, need - have, MSG_DONTWAIT, nullptr, nullptr);
      if (r == -EAGAIN) {
        if (int w = wait_fd(fd, POLLIN, deadline)) return w;
        continue;
      }
      if (r == -EINTR) continue;
      if (raw::failed(r)) return r;
      if (r == 0) return -ECONNRESET;  // the daemon closed the connection
      have += size_t(r);
    }
    size_t size = wire::frame_size(buf, have);
    if (size == SIZE_MAX || size > cap) return -EPROTO;
    if (size == 0) {
      need = have + 8;  // a longer segment table
      if (need > cap) return -EPROTO;
      continue;
    }
    if (have == size) return long(size);
    need = size;
  }
}

// Sends `req` on fd and reads the reply.
int exchange(int fd, const wire::Request& req, wire::Reply& reply, int64_t deadline) {
  alignas(8) char buf[wire::kSmallFrameBytes];
  size_t len = wire::encode(req, buf, sizeof buf);
  if (len == 0) return -EPROTO;
  if (int r = send_frame(fd, buf, len, deadline)) return r;
  long n = recv_frame(fd, buf, sizeof buf, deadline);
  if (n < 0) return int(n);
  return wire::decode(buf, size_t(n), reply) ? 0 : -EPROTO;
}

int send_one_way(int fd, const wire::Request& msg, int64_t deadline) {
  alignas(8) char buf[wire::kRequestFrameBytes];
  size_t len = wire::encode(msg, buf, sizeof buf);
  if (len == 0) return -EPROTO;
  return send_frame(fd, buf, len, deadline);
}

// The deferred Reaped messages (and `msg`, if given) as one write. Only with the
// link held. On failure the deferred ones stay for the next attempt.
int send_deferred(int fd, const wire::Request* msg, int64_t deadline) {
  ProcessState& st = state();
  if (st.deferred_count == 0) return msg ? send_one_way(fd, *msg, deadline) : 0;
  constexpr size_t kReapedFrame = 32;  // wire_test checks this size
  alignas(8) char buf[kMaxDeferred * kReapedFrame + wire::kRequestFrameBytes];
  size_t len = 0;
  for (int i = 0; i < st.deferred_count; ++i) {
    size_t n = wire::encode(wire::Request(wire::Reaped{st.deferred_reaped[i]}), buf + len, kReapedFrame);
    if (n == 0) return -EPROTO;
    len += n;
  }
  if (msg) {
    size_t n = wire::encode(*msg, buf + len, wire::kRequestFrameBytes);
    if (n == 0) return -EPROTO;
    len += n;
  }
  int r = send_frame(fd, buf, len, deadline);
  if (r == 0) st.deferred_count = 0;
  return r;
}

// --- the persistent connection (only with conn_busy held) -----------------

// The link lock holds the owner's tid. Another thread's messages wait for it:
// over one connection they reach the daemon in the order they were sent (a
// Reaped must not overtake its Spawned). Only a signal handler that interrupted
// the owner itself (same tid: waiting would deadlock), or an owner stuck past
// the deadline, makes us use a connection of our own instead.
bool lock_link(int64_t deadline) {
  std::atomic<int>& busy = state().conn_busy;
  const int me = cached_real_tid();
  for (unsigned spins = 0;; ++spins) {
    int owner = 0;
    if (busy.compare_exchange_weak(owner, me, std::memory_order_acquire)) return true;
    if (owner == me || (owner != 0 && now_ns() >= deadline)) return false;
    if (spins < 64) {
      raw::sys(SYS_sched_yield);
    } else {
      struct timespec ts = {0, 50'000};
      raw::sys(SYS_nanosleep, &ts, nullptr);
    }
  }
}
void unlock_link() { state().conn_busy.store(0, std::memory_order_release); }

// The program may have closed our fd and reused its number (or dup2()ed over
// it): then the number is not ours to use or to close.
VPROC_FORK_CHILD_PATH bool still_ours(int fd) {
  struct stat st;
  if (raw::failed(raw::sys(SYS_fstat, fd, &st))) return false;
  return S_ISSOCK(st.st_mode) && st.st_dev == state().conn_dev && st.st_ino == state().conn_ino;
}

void drop_connection() {
  int fd = state().conn_fd.exchange(-1, std::memory_order_acq_rel);
  if (fd >= 0 && still_ours(fd)) raw::sys(SYS_close, fd);
}

// A daemon that (re)adopted the table after we registered knows us only from
// the table: say who we are again, and which children we have, before anything
// else goes over the new connection.
int reregister(int fd, int64_t deadline) {
  ProcessState& st = state();
  wire::Reply reply;
  int r = exchange(fd, wire::Hello{wire::kProtocolVersion, st.self.value, st.parent, uint32_t(st.ckpt.signo)}, reply, deadline);
  if (r) return r;
  if (const wire::Error* e = std::get_if<wire::Error>(&reply)) {
    diag({"the restarted daemon refused to re-register this process: ", e->message.s});
  } else if (const wire::HelloOk* ok = std::get_if<wire::HelloOk>(&reply)) {
    // A new grant replaces ours (the daemon may not know the old one); without
    // one, the daemon honours the lease we hold (it is recorded in the table).
    if (ok->lease.count) install_lease(ok->lease.first, ok->lease.count);
  } else {
    return -EPROTO;
  }
  int err = 0;
  child_table().for_each([&](ChildEntry c) {
    if (!err && !c.reaped)
      err = send_one_way(fd, wire::Spawned{c.vpid.value, c.real.value, st.self.value, false}, deadline);
  });
  // The ring belonged to the daemon that went away: what it had not read goes
  // over the connection (a Spawned twice is harmless), and a new ring is made
  // when the next messages come.
  if (!err && st.ring) {
    void* base = reinterpret_cast<void*>(st.ring);
    ring_for_each_unread(base, [&](const RingRecord& r) {
      if (!err) err = send_one_way(fd, ring_message_of(r), deadline);
    });
    if (!err) {
      ring_destroy(base);
      st.ring = 0;
    }
  }
  if (!err && !st.ring) {
    st.ring_uses = 0;
    st.ring_refused = false;
  }
  return err;
}

// Re-sends the queued one-way messages, oldest first.
int flush_pending(int fd, int64_t deadline) {
  ProcessState& st = state();
  for (;;) {
    int best = -1;
    for (int i = 0; i < kMaxPending; ++i)
      if (st.pending[i].phase.load(std::memory_order_acquire) == 2 &&
          (best < 0 || st.pending[i].seq < st.pending[best].seq))
        best = i;
    if (best < 0) return 0;
    const PendingMsg& m = st.pending[best];
    int r = m.reaped ? send_one_way(fd, wire::Reaped{m.spawned.vpid}, deadline)
                     : send_one_way(fd, m.spawned, deadline);
    if (r) return r;
    st.pending[best].phase.store(0, std::memory_order_release);
  }
}

bool pending_any() {
  for (const PendingMsg& m : state().pending)
    if (m.phase.load(std::memory_order_acquire) != 0) return true;
  return false;
}

void enqueue(const wire::Request& msg) {
  ProcessState& st = state();
  const wire::Spawned* spawned = std::get_if<wire::Spawned>(&msg);
  const wire::Reaped* reaped = std::get_if<wire::Reaped>(&msg);
  if (!spawned && !reaped) return;  // (only these are one-way)
  for (PendingMsg& m : st.pending) {
    uint32_t free = 0;
    if (!m.phase.compare_exchange_strong(free, 1, std::memory_order_acquire)) continue;
    m.reaped = reaped != nullptr;
    m.spawned = spawned ? *spawned : wire::Spawned{reaped->vpid, 0, 0, false};
    m.seq = st.pending_seq.fetch_add(1, std::memory_order_relaxed);
    m.phase.store(2, std::memory_order_release);
    return;
  }
  diag_once(kNoticeQueueFull, {"the daemon at ", st.socket_path,
                               " is unreachable and 64 messages are queued; dropping further ones"});
}

// The daemon cannot be reached: the deferred messages join the queue that is
// re-sent on the next connection.
void move_deferred_to_queue() {
  ProcessState& st = state();
  for (int i = 0; i < st.deferred_count; ++i) enqueue(wire::Reaped{st.deferred_reaped[i]});
  st.deferred_count = 0;
}

// The persistent connection, (re)connected if needed. fd or -errno.
int connected_fd(int64_t deadline) {
  ProcessState& st = state();
  int fd = st.conn_fd.load(std::memory_order_acquire);
  if (fd >= 0) {
    if (still_ours(fd)) return fd;
    st.conn_fd.store(-1, std::memory_order_release);  // not ours any more: forget, never close
  }
  fd = open_connection(deadline);
  if (fd < 0) return fd;
  struct stat sb;
  raw::sys(SYS_fstat, fd, &sb);
  st.conn_dev = sb.st_dev;
  st.conn_ino = sb.st_ino;
  st.conn_fd.store(fd, std::memory_order_release);

  int r = 0;
  uint64_t gen = st.table.mapped() ? st.table.header().generation.load(std::memory_order_acquire) : 0;
  if (st.self && gen != st.link_generation.load(std::memory_order_relaxed)) {
    r = reregister(fd, deadline);
    if (r == 0) st.link_generation.store(gen, std::memory_order_relaxed);
  }
  if (r == 0) r = flush_pending(fd, deadline);
  if (r) {
    drop_connection();
    return r;
  }
  return fd;
}

// Errors after which a new connection may succeed (the daemon restarted).
bool connection_broken(int err) {
  return err == -EPIPE || err == -ECONNRESET || err == -ENOTCONN || err == -EBADF;
}

// --- the spawn ring (common/spawn_ring.h; only with the link held) --------

// One-way messages sent before the ring is made: a process that forks once
// does not pay for it.
constexpr uint32_t kRingAfterMessages = 1;

// Makes the ring and hands it to the daemon (one round trip); false if either fails.
bool ring_attach(int64_t deadline) {
  ProcessState& st = state();
  int fd = connected_fd(deadline);
  if (fd < 0) return false;
  int mfd = -1;
  void* base = ring_create(&mfd);
  if (!base) return false;
  wire::Reply reply;
  int r = send_deferred(fd, nullptr, deadline);
  if (r == 0) r = exchange(fd, wire::RingAttach{mfd}, reply, deadline);
  raw::sys(SYS_close, mfd);  // the daemon has its own descriptor now
  if (r || !std::holds_alternative<wire::Ok>(reply)) {
    ring_destroy(base);
    if (r) drop_connection();  // out of step
    return false;
  }
  st.ring = reinterpret_cast<uintptr_t>(base);
  return true;
}

// Gives the ring up after sending what the daemon has not read of it.
int ring_abandon(int fd, int64_t deadline) {
  ProcessState& st = state();
  void* base = reinterpret_cast<void*>(st.ring);
  int err = 0;
  ring_for_each_unread(base, [&](const RingRecord& r) {
    if (!err) err = send_one_way(fd, ring_message_of(r), deadline);
  });
  if (err) return err;
  ring_destroy(base);
  st.ring = 0;
  st.ring_refused = true;
  return 0;
}

// Puts a one-way message into the ring instead of sending it. False when it
// must be sent: not a one-way message, no ring (yet, or refused), or the ring
// stays full. Once a message has been sent instead, nothing goes into the ring
// any more: it could overtake that message (the daemon reads rings first).
bool ring_send(const wire::Request& msg, int64_t deadline) {
  ProcessState& st = state();
  RingRecord rec;
  if (st.ring_refused || !ring_record_of(msg, rec)) return false;
  if (!st.ring) {
    if (st.ring_uses++ < kRingAfterMessages) return false;
    if (!ring_attach(deadline)) {
      st.ring_refused = true;
      return false;
    }
  }
  if (ring_append(reinterpret_cast<void*>(st.ring), rec)) return true;
  // Full: the daemon reads every ring before it answers any request.
  int fd = connected_fd(deadline);
  wire::Reply reply;
  int r = fd < 0 ? fd : send_deferred(fd, nullptr, deadline);
  if (r == 0) r = exchange(fd, wire::Ping{}, reply, deadline);
  if (r == 0 && st.ring && ring_append(reinterpret_cast<void*>(st.ring), rec)) return true;
  if (r == 0 && st.ring) {
    r = ring_abandon(fd, deadline);  // it answers, but does not read our ring
  } else if (st.ring) {
    // No answer (stopped, or gone): the ring stays mapped but unused. A
    // daemon that wakes up reads it before the messages sent from now on; a
    // restarted one gets what it holds from reregister().
    st.ring_refused = true;
  }
  if (r && fd >= 0) drop_connection();
  return false;
}

}  // namespace

void notify(const wire::Request& msg) {
  int64_t deadline = now_ns() + kTimeoutNs;
  if (lock_link(deadline)) {
    if (ring_send(msg, deadline)) {
      unlock_link();
      return;
    }
    int fd = connected_fd(deadline);
    int r = fd < 0 ? fd : send_deferred(fd, &msg, deadline);
    if (r && connection_broken(r)) {
      drop_connection();
      fd = connected_fd(deadline);
      r = fd < 0 ? fd : send_deferred(fd, &msg, deadline);
    }
    if (r) {
      if (fd >= 0) drop_connection();
      move_deferred_to_queue();
      enqueue(msg);
    }
    unlock_link();
    return;
  }
  // The link is ours already (a signal handler interrupted a send), or stuck.
  // Queued messages must go first, so join the queue if there is one.
  if (pending_any()) {
    enqueue(msg);
    return;
  }
  int fd = open_connection(deadline);
  int r = fd < 0 ? fd : send_one_way(fd, msg, deadline);
  if (fd >= 0) raw::sys(SYS_close, fd);
  if (r) enqueue(msg);
}

int round_trip(const wire::Request& req, wire::Reply& reply) {
  int64_t deadline = now_ns() + kTimeoutNs;
  if (lock_link(deadline)) {
    int fd = connected_fd(deadline);
    int r = fd < 0 ? fd : send_deferred(fd, nullptr, deadline);
    if (r == 0) r = exchange(fd, req, reply, deadline);
    if (r && connection_broken(r)) {
      drop_connection();
      fd = connected_fd(deadline);
      r = fd < 0 ? fd : exchange(fd, req, reply, deadline);
    }
    // After a timeout or a garbled reply the stream is out of step: start afresh.
    if (r && fd >= 0) drop_connection();
    unlock_link();
    return r;
  }
  int fd = open_connection(deadline);
  if (fd < 0) return fd;
  int r = exchange(fd, req, reply, deadline);
  raw::sys(SYS_close, fd);
  return r;
}

void notify_reaped_later(uint32_t vpid) {
  int64_t deadline = now_ns() + kTimeoutNs;
  if (!lock_link(deadline)) {  // a handler interrupted our own send: no batching
    notify(wire::Reaped{vpid});
    return;
  }
  if (ring_send(wire::Reaped{vpid}, deadline)) {
    unlock_link();
    return;
  }
  ProcessState& st = state();
  bool full = st.deferred_count == kMaxDeferred;
  if (!full) st.deferred_reaped[st.deferred_count++] = vpid;
  unlock_link();
  if (full) notify(wire::Reaped{vpid});  // sends the 16 waiting ones with it
}

void link_flush() {
  ProcessState& st = state();
  int64_t deadline = now_ns() + kTimeoutNs;
  if (!lock_link(deadline)) return;
  if (st.deferred_count) {
    int fd = connected_fd(deadline);
    if (fd < 0 || send_deferred(fd, nullptr, deadline) != 0) {
      if (fd >= 0) drop_connection();
      move_deferred_to_queue();
    }
  }
  unlock_link();
}

VPROC_FORK_CHILD_PATH void link_after_fork_child() {
  ProcessState& st = state();
  // The socket is shared with the parent: closing our copy leaves its connection
  // intact. The lock may have been held by a thread that does not exist here.
  int fd = st.conn_fd.exchange(-1, std::memory_order_relaxed);
  if (fd >= 0 && still_ours(fd)) raw::sys(SYS_close, fd);
  if (st.deferred_count) st.deferred_count = 0;  // the parent's to send
  if (st.ring) st.ring = 0;  // the parent's (not mapped here: MADV_DONTFORK)
  if (st.ring_uses) st.ring_uses = 0;
  if (st.ring_refused) st.ring_refused = false;
  for (PendingMsg& m : st.pending)  // the parent's to send (written only if set: COW)
    if (m.phase.load(std::memory_order_relaxed) != 0) m.phase.store(0, std::memory_order_relaxed);
  if (st.conn_busy.load(std::memory_order_relaxed) != 0) st.conn_busy.store(0, std::memory_order_release);
}

bool is_link_fd(int fd) { return fd >= 0 && fd == state().conn_fd.load(std::memory_order_acquire); }

void link_vacate_fd(int fd) {
  ProcessState& st = state();
  if (!is_link_fd(fd)) return;
  long nfd = raw::sys(SYS_fcntl, fd, F_DUPFD_CLOEXEC, high_fd_floor());
  int expected = fd;
  if (raw::failed(nfd)) {
    // No other number free: forget the connection (the program's dup2 closes
    // it); the next message reconnects.
    st.conn_fd.compare_exchange_strong(expected, -1, std::memory_order_acq_rel);
    return;
  }
  if (!st.conn_fd.compare_exchange_strong(expected, int(nfd), std::memory_order_acq_rel))
    raw::sys(SYS_close, nfd);
}

}  // namespace vproc::lib
