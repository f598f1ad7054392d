#include "spawn_rings.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "pidfd.h"
#include "proc_stat.h"
#include "spawn_ring.h"
#include "strf.h"

namespace vproc::daemon {

SpawnRings::SpawnRings(struct ev_loop* loop, Logger& log, Apply apply)
    : loop_(loop), log_(log), apply_(std::move(apply)) {
  ev_timer_init(&tick_, &SpawnRings::on_tick, kTickSeconds, kTickSeconds);
  tick_.data = this;
}

SpawnRings::~SpawnRings() {
  ev_timer_stop(loop_, &tick_);
  for (auto& [pid, r] : rings_) free_ring(std::move(r));
  rings_.clear();
  retired_.clear();
}

Status SpawnRings::attach(const Peer& peer, int fd) {
  if (fd < 0) return Status::failure(EBADF, strf("ring attach: %d is not a descriptor", fd));
  // Opening the process's own descriptor through /proc needs the right to
  // inspect it (same user, or root): a process that may not be inspected
  // keeps sending its messages instead.
  std::string path = strf("/proc/%u/fd/%d", peer.pid.value, fd);
  int file = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (file < 0) return Status::failure(errno, strf("ring attach: %s: %s", path.c_str(), strerror(errno)));
  // The seals make the size final: a process that could shrink the file would
  // make our reads of the mapping fault (SIGBUS) past the new end.
  struct stat sb;
  int seals = fcntl(file, F_GET_SEALS);
  bool sealed = seals >= 0 && (seals & F_SEAL_SHRINK) && (seals & F_SEAL_GROW);
  if (fstat(file, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size != off_t(kRingBytes) || !sealed) {
    close(file);
    return Status::failure(EINVAL, strf("ring attach: descriptor %d of pid %u is not a sealed %zu-byte memfd", fd,
                                        peer.pid.value, kRingBytes));
  }
  void* base = mmap(nullptr, kRingBytes, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
  int map_err = errno;
  close(file);
  if (base == MAP_FAILED) return Status::failure(map_err, strf("ring attach: mmap: %s", strerror(map_err)));
  const RingHeader* h = ring_header(base);
  if (h->magic != kRingMagic || h->version != kRingVersion || h->capacity != kRingCapacity ||
      h->head.load(std::memory_order_acquire) != h->tail.load(std::memory_order_acquire)) {
    munmap(base, kRingBytes);
    return Status::failure(EINVAL, strf("ring attach: pid %u's ring has a bad header or is not empty", peer.pid.value));
  }
  // Its end is how we let the ring go: the pidfd becomes readable when the
  // process exits. Opened while the process waits for our answer, so the pid
  // is still the peer's.
  int pidfd = open_pidfd(peer.pid, false);
  if (pidfd < 0) {
    munmap(base, kRingBytes);
    return Status::failure(-pidfd, strf("ring attach: pidfd_open(%u): %s", peer.pid.value, strerror(-pidfd)));
  }
  if (auto old = rings_.find(peer.pid.value); old != rings_.end()) detach(peer.pid);  // an exec's earlier ring
  auto r = std::make_unique<Ring>();
  r->owner = this;
  r->peer = peer;
  r->base = base;
  r->head = h->head.load(std::memory_order_relaxed);
  r->pidfd = pidfd;
  ev_io_init(&r->exit_watch, &SpawnRings::on_exit, pidfd, EV_READ);
  r->exit_watch.data = r.get();
  ev_io_start(loop_, &r->exit_watch);
  rings_.emplace(peer.pid.value, std::move(r));
  update_timer();
  return Status::success();
}

size_t SpawnRings::read_ring(Ring& r) {
  if (r.busy || r.bad) return 0;
  r.busy = true;
  ++depth_;
  RingHeader* h = ring_header(r.base);
  const RingRecord* recs = ring_records(r.base);
  // The writer may keep appending: read what was there when we looked.
  uint32_t tail = h->tail.load(std::memory_order_acquire);
  if (tail - r.head > kRingCapacity) {
    log_.warning("dropping the spawn ring of pid %u: its indices make no sense (head %u, tail %u)",
                 r.peer.pid.value, r.head, tail);
    r.bad = true;
  }
  size_t applied = 0;
  while (!r.bad && r.head != tail) {
    RingRecord rec;
    std::memcpy(&rec, &recs[r.head % kRingCapacity], sizeof rec);
    wire::Request msg;
    switch (RingKind(rec.kind)) {
      case RingKind::Spawned: msg = wire::Spawned{rec.vpid, rec.real, rec.parent, false}; break;
      case RingKind::SpawnedThread: msg = wire::Spawned{rec.vpid, rec.real, rec.parent, true}; break;
      case RingKind::Reaped: msg = wire::Reaped{rec.vpid}; break;
      default:
        log_.warning("dropping the spawn ring of pid %u: record kind %u is unknown", r.peer.pid.value, rec.kind);
        r.bad = true;
        continue;
    }
    // (Applying may read other rings, never this one: it is busy.)
    if (!apply_(r.peer, msg)) break;
    ++r.head;
    h->head.store(r.head, std::memory_order_release);
    ++applied;
  }
  --depth_;
  r.busy = false;
  return applied;
}

size_t SpawnRings::drain_all() {
  // Called before every request: most of the time no ring has anything new.
  std::vector<Ring*> ready;
  for (auto& [pid, r] : rings_)
    if (!r->busy && !r->bad && ring_header(r->base)->tail.load(std::memory_order_acquire) != r->head)
      ready.push_back(r.get());
  size_t applied = 0;
  // Pointers stay valid: a ring replaced meanwhile waits in retired_.
  for (Ring* r : ready) applied += read_ring(*r);
  sweep_bad();
  return applied;
}

void SpawnRings::drain(RealPid pid) {
  auto it = rings_.find(pid.value);
  if (it == rings_.end()) return;
  read_ring(*it->second);
  sweep_bad();
}

void SpawnRings::detach(RealPid pid) {
  auto it = rings_.find(pid.value);
  if (it == rings_.end()) return;
  std::unique_ptr<Ring> r = std::move(it->second);
  rings_.erase(it);
  read_ring(*r);  // the last records
  free_ring(std::move(r));
  update_timer();
}

SpawnRings::Ring::~Ring() {
  if (pidfd >= 0) close(pidfd);
  if (base) munmap(base, kRingBytes);
}

void SpawnRings::free_ring(std::unique_ptr<Ring> r) {
  ev_io_stop(loop_, &r->exit_watch);
  // A read further up the stack may still be reading it: freed when none is.
  if (depth_ > 0) retired_.push_back(std::move(r));
}

void SpawnRings::sweep_bad() {
  if (depth_ > 0) return;
  retired_.clear();
  std::vector<uint32_t> bad;
  for (auto& [pid, r] : rings_)
    if (r->bad) bad.push_back(pid);
  for (uint32_t pid : bad) {
    auto it = rings_.find(pid);
    std::unique_ptr<Ring> r = std::move(it->second);
    rings_.erase(it);
    free_ring(std::move(r));
  }
  if (!bad.empty()) update_timer();
}

void SpawnRings::update_timer() {
  if (rings_.empty()) {
    ev_timer_stop(loop_, &tick_);
  } else if (!ev_is_active(&tick_)) {
    period_ = kTickSeconds;  // a new ring: its process is forking
    tick_.repeat = period_;
    ev_timer_again(loop_, &tick_);
  }
}

void SpawnRings::on_tick(struct ev_loop* loop, ev_timer* w, int) {
  auto* self = static_cast<SpawnRings*>(w->data);
  bool found = self->drain_all() > 0;
  double next = found ? kTickSeconds : std::min(self->period_ * 2, kIdleTickSeconds);
  if (next != self->period_ && ev_is_active(w)) {
    self->period_ = next;
    w->repeat = next;
    ev_timer_again(loop, w);
  }
}

void SpawnRings::on_exit(struct ev_loop*, ev_io* w, int) {
  Ring* r = static_cast<Ring*>(w->data);
  r->owner->detach(r->peer.pid);
}

}  // namespace vproc::daemon
