#include "spawn_ring_writer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "raw_syscall.h"

namespace vproc::lib {

bool ring_record_of(const wire::Request& msg, RingRecord& out) {
  if (const wire::Spawned* s = std::get_if<wire::Spawned>(&msg)) {
    out = RingRecord{uint32_t(s->thread ? RingKind::SpawnedThread : RingKind::Spawned), s->vpid, s->real, s->parent};
    return true;
  }
  if (const wire::Reaped* r = std::get_if<wire::Reaped>(&msg)) {
    out = RingRecord{uint32_t(RingKind::Reaped), r->vpid, 0, 0};
    return true;
  }
  return false;
}

wire::Request ring_message_of(const RingRecord& r) {
  if (RingKind(r.kind) == RingKind::Reaped) return wire::Reaped{r.vpid};
  return wire::Spawned{r.vpid, r.real, r.parent, RingKind(r.kind) == RingKind::SpawnedThread};
}

void* ring_create(int* fd) {
  long f = raw::sys(SYS_memfd_create, "vproc-spawn-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (raw::failed(f)) return nullptr;
  long base = -1;
  if (!raw::failed(raw::sys(SYS_ftruncate, f, kRingBytes)) &&
      !raw::failed(raw::sys(SYS_fcntl, f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)))
    base = raw::sys(SYS_mmap, nullptr, kRingBytes, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
  if (raw::failed(base)) {
    raw::sys(SYS_close, f);
    return nullptr;
  }
  raw::sys(SYS_madvise, base, kRingBytes, MADV_DONTFORK);
  RingHeader* h = ring_header(reinterpret_cast<void*>(base));
  h->magic = kRingMagic;
  h->version = kRingVersion;
  h->capacity = kRingCapacity;
  *fd = int(f);
  return reinterpret_cast<void*>(base);
}

void ring_destroy(void* base) {
  if (base) raw::sys(SYS_munmap, base, kRingBytes);
}

bool ring_append(void* base, const RingRecord& r) {
  RingHeader* h = ring_header(base);
  uint32_t tail = h->tail.load(std::memory_order_relaxed);
  if (tail - h->head.load(std::memory_order_acquire) >= kRingCapacity) return false;
  ring_records(base)[tail % kRingCapacity] = r;
  h->tail.store(tail + 1, std::memory_order_release);  // the record before the index
  return true;
}

}  // namespace vproc::lib
