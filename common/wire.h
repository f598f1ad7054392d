// Value types for the daemon protocol and their (de)serialization.
//
// This is the only place that includes the generated Cap'n Proto header
// (protocol.capnp.h); everything else sees these plain structs.
//
// The small messages (every Request, every Reply but the process list) encode
// into and decode from caller-provided buffers with no heap allocation and no
// exception escaping: the preload library uses them in fork/exec paths and may
// do so from signal handlers. Multi-segment messages are refused there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace vproc::wire {

inline constexpr uint32_t kProtocolVersion = 2;
// Largest frame a peer may send; bigger prefixes are a protocol error.
inline constexpr size_t kMaxFrameBytes = 64u << 20;
// Enough for any small message, on the stack.
inline constexpr size_t kSmallFrameBytes = 512;
// Enough for any Request (the largest is 48 bytes; wire_test checks every kind).
// The library's send path uses this smaller size: after fork() each stack page
// the parent touches is a copy-on-write fault.
inline constexpr size_t kRequestFrameBytes = 128;
// Enough for any message with paths (checkpoint messages).
inline constexpr size_t kLargeFrameBytes = 4096;

struct Hello {
  uint32_t protocol = kProtocolVersion;
  uint32_t vpid = 0;
  uint32_t parent = 0;
  uint32_t ckpt_signal = 0;
};
struct Spawned {
  uint32_t vpid = 0, real = 0, parent = 0;
  bool thread = false;
};
struct Reaped {
  uint32_t vpid = 0;
};
struct LeaseRequest {
  uint32_t count = 0;
};
struct Lookup {
  uint32_t vpid = 0;
};
struct Signal {
  int64_t target = 0;  // vpid, or -vpid for the group it leads
  int32_t signo = 0;
  bool queued = false;  // sigqueue(3) of a process on another node: SI_QUEUE with `value`
  uint64_t value = 0;
};
struct ListRequest {
  bool threads = false;
};
struct Ping {};
// The caller's spawn ring (common/spawn_ring.h) is its open file descriptor `fd`.
struct RingAttach {
  int32_t fd = -1;
};
// Real pid on the daemon's node -> the vpid using it (answered with Where).
struct LookupReal {
  uint32_t real = 0;
};

// Fixed-size text, so small replies need no allocation.
template <size_t N>
struct Text {
  char s[N] = {};
  void set(const char* p, size_t len);
  void set(const char* p);
};

// Checkpoint messages (they carry paths: encoded with kLargeFrameBytes).
inline constexpr size_t kPathTextBytes = 1024;
struct CheckpointRequest {
  uint32_t vpid = 0, flags = 0;
  Text<kPathTextBytes> path;
};
struct CheckpointJob {
  uint32_t vpid = 0, request_id = 0;
};
struct CheckpointResult {
  uint32_t request_id = 0, vpid = 0;
  int32_t err = 0;
  uint64_t image_bytes = 0, data_bytes = 0, frozen_ns = 0, write_ns = 0;
  Text<400> message;
  Text<kPathTextBytes> path;
};
struct Restored {
  uint32_t vpid = 0, parent = 0, real = 0;
  uint64_t migration = 0;  // 0: a plain restore
};
struct CheckpointPolicy {
  uint32_t vpid = 0, interval_ms = 0, keep = 0;
  Text<kPathTextBytes> dir;
};

// Migration (docs/cluster.md).
inline constexpr size_t kNodeNameBytes = 64;
struct MigrateRequest {
  uint32_t vpid = 0, flags = 0;
  Text<kNodeNameBytes> node;
};
struct MigrateWait {
  uint32_t request_id = 0;
};
struct ShadowHello {
  uint32_t vpid = 0, target = 0;
  uint64_t migration = 0;
};
struct ShadowWait {
  uint32_t vpid = 0;
};
struct Resumed {
  uint32_t vpid = 0;
};
enum class GuestChange : uint8_t { Exited = 1, Stopped = 2, Continued = 3 };
struct GuestStatus {
  uint32_t vpid = 0;
  GuestChange kind = GuestChange::Exited;
  int32_t status = 0;
};
// Remote children (docs/cluster.md, "Children left behind"): the shadow
// reports its children's wait events, a remote child's stand-in waits for them.
struct ChildReport {
  uint32_t parent = 0, child = 0;  // parent vpid, child real pid
  GuestChange kind = GuestChange::Exited;
  int32_t status = 0;
};
struct ChildWait {
  uint32_t parent = 0, child = 0, seq = 0;  // parent and child vpids
};
// `migrate`'s progress display: how far is the migration of `vpid`? (Progress)
struct MigrateProgress {
  uint32_t vpid = 0;
};
// The processes of the cluster, or of one node (answered with a ClusterList
// frame: ListFollows, then decode_cluster_list()).
struct ClusterQuery {
  bool threads = false;
  bool nodes_only = false;  // only the nodes' states (vproc status)
  Text<kNodeNameBytes> node;  // empty: every node
};
using Request = std::variant<Hello, Spawned, Reaped, LeaseRequest, Lookup, Signal, ListRequest, Ping,
                             LookupReal, CheckpointRequest, CheckpointJob, CheckpointResult, Restored,
                             CheckpointPolicy, MigrateRequest, MigrateWait, ShadowHello, ShadowWait,
                             Resumed, GuestStatus, ClusterQuery, ChildReport, ChildWait, MigrateProgress,
                             RingAttach>;

struct Ok {};
struct Error {
  int32_t err = 0;
  Text<200> message;
};
struct Lease {
  uint32_t first = 0, count = 0;
};
struct HelloOk {
  uint32_t vpid = 0;
  Lease lease;
  uint32_t node_index = 0;
  Text<64> node_name;
  bool guest = false;   // a migrated process, whose parent is `parent` (docs/cluster.md)
  uint32_t parent = 0;
};
struct Where {
  uint32_t real = 0;
  uint8_t state = 0;
  uint32_t node_index = 0;
  uint32_t vpid = 0;
};
struct Pong {
  uint32_t protocol = 0, node_index = 0, daemon_pid = 0, processes = 0;
  Text<64> node_name;
};
// Marks a reply that holds a process list: read it with decode_list().
struct ListFollows {};

struct CheckpointSpec {
  uint32_t flags = 0;
  Text<kPathTextBytes> path;
};
struct CheckpointDone {
  CheckpointResult result;
};

struct MigrateDone {
  int32_t err = 0;
  Text<400> message;
  Text<kNodeNameBytes> from, to;
  uint64_t image_bytes = 0, frozen_ns = 0, total_ns = 0;
};
enum class VerdictAction : uint8_t { Continue = 0, Shadow = 1, Quit = 2 };
struct Verdict {
  VerdictAction action = VerdictAction::Continue;
  uint32_t target = 0;
  uint64_t migration = 0;
};
enum class ShadowEventKind : uint8_t { Channels = 1, Exited = 2, Stopped = 3, Continued = 4 };
struct ShadowEvent {
  ShadowEventKind kind = ShadowEventKind::Exited;
  int32_t status = 0;
  uint8_t fd_mask = 0;
};
// A remote child's latest state (kind 0 and seq 0: still running, as far as known).
struct ChildState {
  uint32_t seq = 0;
  uint8_t kind = 0;  // 0, or a GuestChange
  int32_t status = 0;
};
// The answer to MigrateProgress.
enum class MigrateStage : uint8_t { None = 0, Checking = 1, Checkpointing = 2, Sending = 3, Restoring = 4, Committing = 5 };
struct Progress {
  MigrateStage stage = MigrateStage::None;  // None: no migration of the vpid under way that the daemons know
  uint64_t bytes_done = 0, bytes_total = 0;  // bytes_total 0: no byte count in this stage
};
using Reply = std::variant<Ok, Error, HelloOk, Lease, Where, Pong, ListFollows, CheckpointSpec,
                           CheckpointDone, MigrateDone, Verdict, ShadowEvent, ChildState, Progress>;

struct ProcessEntry {
  uint32_t vpid = 0, node_index = 0, real = 0, parent = 0, uid = 0, tgid = 0;
  std::string node_name, state;
  uint64_t start_time_ms = 0;
  std::vector<std::string> argv;
  bool thread = false;
};

// A node as the answering daemon saw it while answering a ClusterQuery.
struct NodeState {
  uint32_t index = 0;
  std::string name, address;
  bool reachable = false;
  std::string message;  // why it is not
  uint32_t processes = 0;
  bool self = false;    // the answering daemon's own node
};
struct ClusterListing {
  std::vector<ProcessEntry> entries;
  std::vector<NodeState> nodes;  // empty: the daemon is not part of a cluster
};

// --- framing -------------------------------------------------------------
// Given the first `have` bytes of a frame (8-byte aligned), the total frame size
// in bytes; 0 if more bytes are needed to tell; SIZE_MAX if the prefix is invalid
// or larger than kMaxFrameBytes.
size_t frame_size(const void* buf, size_t have) noexcept;

// --- small messages: no allocation ---------------------------------------
// Encode into `out` (8-byte aligned). Returns the frame length, or 0 if it does
// not fit.
size_t encode(const Request& req, void* out, size_t cap) noexcept;
size_t encode(const Reply& rep, void* out, size_t cap) noexcept;
// Decode one complete frame (8-byte aligned, `len` = frame_size). False if the
// frame is malformed or not a single-segment message.
bool decode(const void* buf, size_t len, Request& out) noexcept;
bool decode(const void* buf, size_t len, Reply& out) noexcept;

// --- the process list: allocates, daemon and tools only -------------------
std::vector<uint64_t> encode_list(const std::vector<ProcessEntry>& entries);
bool decode_list(const void* buf, size_t len, std::vector<ProcessEntry>& out);
// The answer to ClusterQuery. decode_cluster_list also reads a plain list reply.
std::vector<uint64_t> encode_cluster_list(const ClusterListing& listing);
bool decode_cluster_list(const void* buf, size_t len, ClusterListing& out);

}  // namespace vproc::wire
