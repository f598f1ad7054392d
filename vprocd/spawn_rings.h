// The spawn rings of this node's processes (common/spawn_ring.h): attached on
// a process's request, read before every request the daemon handles, when a
// lookup misses, every kTickSeconds, and once more when the process ends.
//
// A record is applied through the same function as the message it stands for,
// with the credentials of the process that attached the ring. Reading is
// re-entrant across rings (applying a Reaped reads the reaped process's own
// ring first, as a Reaped drains its connection) but never into the ring being
// read.
#pragma once

#include <ev.h>

#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "credentials.h"
#include "logger.h"
#include "status.h"
#include "wire.h"

namespace vproc::daemon {

class SpawnRings {
 public:
  // Applies one record (a Spawned or a Reaped) as if `peer` had sent it; false
  // for "not now": the record and those after it wait for the next read.
  using Apply = std::function<bool(const Peer& peer, const wire::Request& msg)>;
  // The timer's period while processes fork: often enough that the shared
  // table follows forks closely (other readers fall back to a lookup, which
  // reads the rings, until it does), seldom enough to cost nothing measurable.
  // Each tick that finds nothing doubles it, up to kIdleTickSeconds, so idle
  // rings do not keep the daemon waking.
  static constexpr double kTickSeconds = 0.02;
  static constexpr double kIdleTickSeconds = 0.5;

  SpawnRings(struct ev_loop* loop, Logger& log, Apply apply);
  ~SpawnRings();
  SpawnRings(const SpawnRings&) = delete;
  SpawnRings& operator=(const SpawnRings&) = delete;

  // Takes the peer's descriptor `fd` (opened through /proc/<pid>/fd) as its
  // ring, replacing (after reading it) one it attached before an exec.
  Status attach(const Peer& peer, int fd);
  // Reads every ring (except one being read further up the stack); how many
  // records it applied.
  size_t drain_all();
  // Reads the ring of one process, if it has one.
  void drain(RealPid pid);
  size_t size() const { return rings_.size(); }

 private:
  struct Ring {
    ~Ring();
    SpawnRings* owner = nullptr;
    Peer peer;
    void* base = nullptr;
    uint32_t head = 0;  // ours: the copy in shared memory is only for the writer
    int pidfd = -1;
    ev_io exit_watch;
    bool busy = false, bad = false;
  };
  static void on_tick(struct ev_loop* loop, ev_timer* w, int revents);
  static void on_exit(struct ev_loop* loop, ev_io* w, int revents);
  size_t read_ring(Ring& r);
  void detach(RealPid pid);
  void free_ring(std::unique_ptr<Ring> r);
  void sweep_bad();
  void update_timer();

  struct ev_loop* loop_;
  Logger& log_;
  Apply apply_;
  ev_timer tick_;
  double period_ = kTickSeconds;
  std::unordered_map<uint32_t, std::unique_ptr<Ring>> rings_;  // by real pid
  std::vector<std::unique_ptr<Ring>> retired_;  // replaced while being read
  int depth_ = 0;  // nested reads in progress
};

}  // namespace vproc::daemon
