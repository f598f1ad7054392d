// The node's process table as a file in tmpfs, written only by vprocd and mapped
// read-only by every process under vproc.
//
// Why shared memory: PID translation happens in getppid, wait*, kill, signal
// handlers (si_pid) and /proc paths, often in async-signal context. A lock-free
// read of a mapped array is async-signal-safe and costs nanoseconds; a daemon
// round trip would be neither.
//
// Layout (all arrays indexed directly, no hashing):
//   [0, 4096)                      TableHeader
//   records[kSerialLimit]          one Record per serial of this node's vpids
//   r2v[kRealPidLimit]             real pid -> vpid of whoever uses it now
// The file is sparse: only touched pages take memory.
//
// Reuse safety. A record's word carries the real pid and a state. The daemon
// clears r2v[R] only if it still names the vpid being retired, so a new process
// that got R first is never unmapped. Readers cross-check both directions
// (r2v[R] = V and record(V).real = R) before trusting a translation.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "pid_types.h"
#include "vpid_space.h"

namespace vproc {

inline constexpr uint64_t kTableMagic = 0x4c42544350525056ull;  // "VPRPCTBL"
inline constexpr uint32_t kTableVersion = 1;

enum class RecordState : uint8_t {
  Free = 0,
  Alive = 1,    // running (or stopped) on this node
  Zombie = 2,   // exited, not yet reaped: pid still valid for kill(2)/wait
  Retired = 3,  // reaped, but its pid may still name a process group/session
};

struct alignas(64) TableHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t node_index;
  std::atomic<uint32_t> serial_cursor;  // next serial the allocator tries
  std::atomic<uint32_t> daemon_pid;     // 0 while no daemon owns the table
  std::atomic<uint64_t> generation;     // bumped when a daemon (re)adopts the table
  char node_name[64];
};

struct Record {
  // real pid (bits 0..31) | state (32..39) | is_thread (40)
  std::atomic<uint64_t> word;
  uint32_t parent;       // parent's vpid, or the parent's real pid if it is not under vproc
  uint32_t uid;          // real uid at registration
  uint64_t start_ticks;  // /proc/<pid>/stat field 22: tells a reused pid apart
  uint32_t tgid;         // for a thread: its process's vpid; for a process: itself
  uint32_t flags;        // daemon bookkeeping (kRecordLeased); readers ignore it
};

// Record::flags of a Free record whose serial is reserved in a lease; its `parent`
// then holds the lease holder's vpid. Kept in the file so that a restarted daemon
// honours the leases that running processes still hold.
inline constexpr uint32_t kRecordLeased = 1;
static_assert(sizeof(Record) == 32);

constexpr uint64_t pack_word(RealPid real, RecordState st, bool thread) {
  return uint64_t{real.value} | (uint64_t(st) << 32) | (uint64_t(thread) << 40);
}
constexpr RealPid word_real(uint64_t w) { return RealPid{uint32_t(w)}; }
constexpr RecordState word_state(uint64_t w) { return RecordState(uint8_t(w >> 32)); }
constexpr bool word_thread(uint64_t w) { return (w >> 40) & 1; }

inline constexpr size_t kHeaderBytes = 4096;
inline constexpr size_t kRecordsOffset = kHeaderBytes;
inline constexpr size_t kR2vOffset = kRecordsOffset + size_t{kSerialLimit} * sizeof(Record);
inline constexpr size_t kTableBytes = kR2vOffset + size_t{kRealPidLimit} * sizeof(uint32_t);
static_assert(sizeof(TableHeader) <= kHeaderBytes);

// What a reader learns about a vpid.
struct Resolved {
  RealPid real;
  RecordState state = RecordState::Free;
  bool thread = false;
};

// Read-only view over a mapped table. Every method is async-signal-safe.
class TableView {
 public:
  TableView() = default;
  explicit TableView(const void* base) : base_(static_cast<const char*>(base)) {}

  bool mapped() const { return base_ != nullptr; }
  const void* base() const { return base_; }
  const TableHeader& header() const { return *reinterpret_cast<const TableHeader*>(base_); }
  uint32_t node_index() const { return header().node_index; }

  // The record of a vpid whose home is this table's node; Free if unknown.
  Resolved resolve(VPid v) const {
    if (!base_ || !valid_vpid(v.value) || home_node_of(v) != node_index()) return {};
    uint64_t w = record(serial_of(v)).word.load(std::memory_order_acquire);
    return {word_real(w), word_state(w), word_thread(w)};
  }

  // The vpid using real pid `r` now, or 0. `allow_retired` accepts a reaped group
  // leader whose pid still names a live process group or session.
  VPid vpid_of(RealPid r, bool allow_retired = false) const {
    if (!base_ || r.value == 0 || r.value >= kRealPidLimit) return VPid{};
    VPid v{r2v()[r.value].load(std::memory_order_acquire)};
    if (!v) return VPid{};
    Resolved res = resolve(v);
    if (res.real != r) return VPid{};
    if (res.state == RecordState::Alive || res.state == RecordState::Zombie) return v;
    if (allow_retired && res.state == RecordState::Retired) return v;
    return VPid{};
  }

  const Record& record(uint32_t serial) const {
    return reinterpret_cast<const Record*>(base_ + kRecordsOffset)[serial];
  }
  const std::atomic<uint32_t>* r2v() const {
    return reinterpret_cast<const std::atomic<uint32_t>*>(base_ + kR2vOffset);
  }

 private:
  const char* base_ = nullptr;
};

// Maps `path` read-only with raw syscalls; returns nullptr on any failure
// (missing file, wrong magic/version/size). Async-signal-safe.
const void* map_table_readonly(const char* path);

}  // namespace vproc
