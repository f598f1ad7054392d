// A process's spawn ring: the Spawned and Reaped messages of its forks, waits
// and thread starts, written into shared memory instead of sent, so that a fork
// does not wake the daemon (a send woke it on the other CPU once per fork).
//
// The process creates a sealed memfd (it can neither shrink nor grow: a mapping
// of it can never fault past its end), maps it, and hands its number to the
// daemon once (a RingAttach request: the daemon opens /proc/<pid>/fd/<n>). From
// then on one producer at a time (the process's link lock) appends records and
// publishes them by advancing `tail`; the daemon consumes them and advances
// `head`. The daemon reads every ring before it handles any request from any
// client, when a lookup misses, on a timer, and when the process ends; so a
// record is applied before anything sent after it, as a message on the
// process's connection was. docs/design.md, "The spawn ring".
//
// Nothing in the ring is trusted: the daemon applies each record exactly as it
// would the same message from that process, and a ring whose indices make no
// sense is dropped.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vproc {

inline constexpr uint32_t kRingMagic = 0x474e5256;  // "VRNG"
inline constexpr uint32_t kRingVersion = 1;
inline constexpr size_t kRingBytes = 64 * 1024;

enum class RingKind : uint32_t {
  Spawned = 1,        // a child process: vpid, real pid, parent vpid
  SpawnedThread = 2,  // a thread: vtid, real tid, its process's vpid
  Reaped = 3,         // a child waited for: vpid
};

struct RingRecord {
  uint32_t kind, vpid, real, parent;
};

struct RingHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t capacity;  // records
  uint32_t reserved;
  // Indices count records ever written/consumed (wrapping at 2^32); each on its
  // own cache line (the daemon writes one, the process the other).
  alignas(64) std::atomic<uint32_t> head;  // next record the daemon reads
  alignas(64) std::atomic<uint32_t> tail;  // next record the process writes
};

inline constexpr size_t kRingHeaderBytes = 192;
static_assert(sizeof(RingHeader) <= kRingHeaderBytes);
inline constexpr uint32_t kRingCapacity = uint32_t((kRingBytes - kRingHeaderBytes) / sizeof(RingRecord));

inline RingHeader* ring_header(void* base) { return static_cast<RingHeader*>(base); }
inline RingRecord* ring_records(void* base) {
  return reinterpret_cast<RingRecord*>(static_cast<char*>(base) + kRingHeaderBytes);
}

}  // namespace vproc
