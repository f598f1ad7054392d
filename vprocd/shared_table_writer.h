// The daemon's side of the shared table (common/shared_table.h): the only writer.
//
// Readers are lock-free (TableView), so every update is ordered for them:
//   register: record fields, then the record word (release), then r2v[real];
//   free:     r2v[real] cleared only if it still names this vpid, then the word.
// A pid reused by a newer process therefore never loses its mapping when the old
// record is freed, and a reader that sees a live word also sees its fields.
//
// The file outlives the daemon. open() re-adopts a valid file: records whose
// process or thread still exists with the same start time are kept, the rest are
// freed; leases whose holder survives are kept. An invalid file is replaced
// (write a new file, rename over), never patched in place.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pid_types.h"
#include "shared_table.h"
#include "status.h"

namespace vproc::daemon {

// Record::flags of a live record (daemon bookkeeping, readers ignore it): the
// process's checkpoint signal as its Hello told it, kept in the file so that a
// restarted daemon still knows it. Not told: the library's default applies.
inline constexpr uint32_t kRecordCkptKnown = 1u << 1;
inline constexpr unsigned kRecordCkptShift = 8;  // bits 8..15: the signal (0: disabled)

// -1 when not told, else the signal number (0: checkpointing disabled).
constexpr int record_ckpt_signal(uint32_t flags) {
  return (flags & kRecordCkptKnown) ? int((flags >> kRecordCkptShift) & 0xff) : -1;
}
constexpr uint32_t ckpt_signal_flags(int sig) {
  return sig < 0 ? 0u : (kRecordCkptKnown | (uint32_t(sig & 0xff) << kRecordCkptShift));
}

// Record::flags of a process that migrated away (docs/cluster.md): its real pid
// is now its shadow's, and bits 16..24 name the node it runs on. Kept in the
// file so that a restarted home daemon still knows where its processes are.
inline constexpr uint32_t kRecordAway = 1u << 2;
inline constexpr unsigned kRecordLocationShift = 16;
inline constexpr uint32_t kRecordLocationMask = 0x1ffu << kRecordLocationShift;

// The node a record's process runs on, or -1: here.
constexpr int record_location(uint32_t flags) {
  return (flags & kRecordAway) ? int((flags & kRecordLocationMask) >> kRecordLocationShift) : -1;
}
constexpr uint32_t location_flags(int node) {
  return node < 0 ? 0u : (kRecordAway | ((uint32_t(node) << kRecordLocationShift) & kRecordLocationMask));
}

struct RecordFields {
  RealPid real;
  RecordState state = RecordState::Alive;
  bool thread = false;
  uint32_t parent = 0;
  uint32_t uid = 0;
  uint64_t start_ticks = 0;
  uint32_t tgid = 0;
  int ckpt_signal = -1;  // see record_ckpt_signal()
  int location = -1;     // see record_location()
};

// Which node the table should serve.
struct TableIdentity {
  // nullopt: a new table gets node 0; an existing one keeps its own index.
  std::optional<uint32_t> node_index;
  std::string node_name;
  // An existing table of another node index is replaced (Recreated) instead
  // of refused: the cluster file says which node this is.
  bool replace_other_node = false;
};

// What open() found.
struct AdoptionReport {
  enum class Origin { Created, Adopted, Recreated };
  Origin origin = Origin::Created;
  std::string recreate_reason;                 // why an existing file was replaced
  std::vector<VPid> kept;                      // records that still name a live task
  uint32_t freed = 0;                          // records of tasks that are gone
  std::vector<std::pair<VPid, VPid>> leases;   // (leased vpid, holder) still valid
  uint32_t leases_dropped = 0;
};

class SharedTableWriter {
 public:
  // Opens (adopting or creating) the table at `path`, owned by this process from
  // now on (header.daemon_pid = getpid()).
  static Status open(const std::string& path, const TableIdentity& identity,
                     std::unique_ptr<SharedTableWriter>& out, AdoptionReport& report);
  ~SharedTableWriter();
  SharedTableWriter(const SharedTableWriter&) = delete;
  SharedTableWriter& operator=(const SharedTableWriter&) = delete;

  const std::string& path() const { return path_; }
  uint32_t node_index() const { return node_index_; }
  TableView view() const { return TableView(base_); }
  VPid vpid_for_serial(uint32_t serial) const { return make_vpid(node_index_, serial); }
  // True if `v` is a well-formed vpid of this table's node.
  bool owns(VPid v) const { return valid_vpid(v.value) && home_node_of(v) == node_index_; }

  const Record& record(VPid v) const { return records()[serial_of(v)]; }
  uint32_t r2v(RealPid r) const;

  // Registers `v` with the given fields. `claim_real` also points r2v[real] at it
  // (false for a process registered after it was already reaped: its pid may name
  // someone else by now).
  void publish(VPid v, const RecordFields& fields, bool claim_real = true);
  // Records the checkpoint signal of a registered vpid (-1: not told).
  void set_ckpt_signal(VPid v, int sig);
  // Records the node a registered vpid runs on (-1: here).
  void set_location(VPid v, int node);
  // Changes the state of a registered vpid (Alive -> Zombie -> Retired); r2v stays.
  void set_state(VPid v, RecordState state);
  // Frees `v`: clears r2v[real] only if it still names `v`, then marks it Free.
  void release(VPid v);

  // Leases: a Free serial reserved for `holder`'s future children.
  void mark_leased(VPid v, VPid holder);
  void clear_leased(VPid v);
  // In use (any non-Free state) or leased: the allocator must skip it.
  bool serial_taken(uint32_t serial) const;

  std::atomic<uint32_t>& serial_cursor() { return header().serial_cursor; }
  // On clean shutdown: no daemon owns the table until the next one adopts it.
  void disown();

 private:
  SharedTableWriter(std::string path, int fd, char* base);
  TableHeader& header() { return *reinterpret_cast<TableHeader*>(base_); }
  Record* records() const { return reinterpret_cast<Record*>(base_ + kRecordsOffset); }
  std::atomic<uint32_t>* r2v_array() const {
    return reinterpret_cast<std::atomic<uint32_t>*>(base_ + kR2vOffset);
  }
  void adopt(AdoptionReport& report);
  // Calls fn(serial) for every serial in the parts of the records area that hold
  // data (the file is sparse: reading a hole would allocate memory for nothing).
  template <typename Fn>
  void for_each_stored_serial(Fn&& fn) const;

  std::string path_;
  int fd_ = -1;
  char* base_ = nullptr;
  uint32_t node_index_ = 0;
};

}  // namespace vproc::daemon
