// The node's registered processes and threads: the daemon's logic without its
// socket. Each operation validates what a client claims against the kernel
// (/proc, pidfds), then updates the in-memory records, the lease book and the
// shared table together.
//
// Life of a process record:
//   Alive  --exit (pidfd readable)-->  Zombie  --Reaped / sweep-->  Retired  --group gone-->  Free
// A thread record is freed as soon as the thread exits.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "credentials.h"
#include "exit_watch.h"
#include "lease_book.h"
#include "logger.h"
#include "process_record.h"
#include "shared_table_writer.h"
#include "status.h"
#include "vpid_allocator.h"
#include "wire.h"

namespace vproc::daemon {

class ProcessTable {
 public:
  static constexpr uint32_t kInitialLease = 16;  // granted with every HelloOk
  static constexpr uint32_t kMaxLease = 256;     // largest single lease
  static constexpr uint32_t kMaxHeld = 4096;     // unused vpids one process may hold

  ProcessTable(SharedTableWriter& table, ExitWatch& watch, Logger& log,
               VPidAllocator allocator = VPidAllocator());
  ~ProcessTable();
  ProcessTable(const ProcessTable&) = delete;
  ProcessTable& operator=(const ProcessTable&) = delete;

  // Takes over what SharedTableWriter::open kept (records and leases).
  void adopt(const AdoptionReport& report);

  // --- requests; `peer` is the process on the other end of the connection ---
  // Registers the peer (vpid 0: a new vpid, or the one it already has; else the
  // given vpid) and grants it an initial lease. node_index/node_name are left
  // to the caller.
  Status hello(const Peer& peer, const wire::Hello& req, wire::HelloOk& out);
  // The peer forked/spawned `msg.real` (or started thread `msg.real`) as `msg.vpid`.
  Status spawned(const Peer& peer, const wire::Spawned& msg);
  // The peer has waited for its child `vpid`.
  Status reaped(const Peer& peer, uint32_t vpid);
  // Reserves up to `count` (max kMaxLease) vpids for the peer's children.
  Status lease(const Peer& peer, uint32_t count, wire::Lease& out);
  // `vproc restore` (the peer, msg.real) continues `msg.vpid` from an image: the
  // vpid must be this node's and not in use by a live process
  // (process_table_restore.cc).
  Status restored(const Peer& peer, const wire::Restored& msg);

  // --- migration (process_table_guest.cc, docs/cluster.md) ---
  // Registers the peer, a restored process, as `v`, a vpid of another node that
  // migration `migration` brought here (a guest). The caller has checked that
  // the migration expects exactly this process.
  Status add_guest(const Peer& peer, VPid v, uint32_t parent, uint64_t migration);
  // The guest is gone (exited, or moved on): its record and leases go.
  void remove_guest(VPid v);
  // This node's vpid `v` now runs on `node` (-1: here again) and its real pid
  // here is `shadow`'s (the process it was, now its shadow).
  Status set_location(VPid v, int node, uint64_t migration);
  const std::unordered_map<uint32_t, ProcessRecord>& guests() const { return guests_; }
  // Called by sweep() for a guest whose process vanished without its keeper
  // telling (keeper killed, daemon restarted in between).
  void on_guest_lost(std::function<void(VPid)> fn) { guest_lost_ = std::move(fn); }

  // --- events ---
  // `v`'s pidfd turned readable: the process exited (Zombie) or the thread is gone (freed).
  void on_exit(VPid v);
  // Periodic: zombies reaped by someone who did not tell us, processes without a
  // pidfd that vanished, retired group leaders whose group and session are gone.
  void sweep();

  // --- queries ---
  const ProcessRecord* find(VPid v) const;
  // The vpid registered (Alive) for the peer process itself, or 0.
  VPid registered_vpid(const Peer& peer) const;
  // The record whose process or thread uses real pid `real` now (any state that
  // still holds the number: Alive, Zombie, Retired), or nullptr.
  const ProcessRecord* find_real(RealPid real) const;
  // Processes (not threads) that are Alive or Zombie.
  size_t live_processes() const;
  const std::unordered_map<uint32_t, ProcessRecord>& records() const { return records_; }
  const LeaseBook& leases() const { return leases_; }
  uint32_t node_index() const { return table_.node_index(); }
  SharedTableWriter& table() { return table_; }

 private:
  Status register_peer(const Peer& peer, VPid v, uint32_t parent, int ckpt_signal);
  // Records the checkpoint signal a Hello told (see ProcessRecord::ckpt_signal).
  void set_ckpt_signal(VPid v, int sig);
  Status grant_lease(VPid holder, uint32_t want, wire::Lease& out);
  // Records a task that already exited and was reaped before we heard of it.
  void install_gone(VPid v, RealPid real, uint32_t parent, VPid holder);
  // Adds a record (its pidfd already open, or -1); frees an older record still
  // using the same real pid.
  void install(const ProcessRecord& rec, bool claim_real = true);
  // What the shared table shows of `rec`.
  static RecordFields fields_of(const ProcessRecord& rec);
  void retire(ProcessRecord& rec);
  void free_record(VPid v);
  void return_leases(VPid holder);
  void close_pidfd(ProcessRecord& rec);
  ProcessRecord* find_mut(VPid v);

  SharedTableWriter& table_;
  ExitWatch& watch_;
  Logger& log_;
  VPidAllocator allocator_;
  LeaseBook leases_;
  std::unordered_map<uint32_t, ProcessRecord> records_;
  std::unordered_set<uint32_t> zombies_;    // Zombie processes
  std::unordered_set<uint32_t> retired_;    // Retired processes
  std::unordered_set<uint32_t> unwatched_;  // Alive without a pidfd (pidfd_open failed)
  // Guests: other nodes' vpids running here. Not in the shared table (its
  // records are indexed by this node's serials); by vpid and by real pid.
  std::unordered_map<uint32_t, ProcessRecord> guests_;
  std::unordered_map<uint32_t, uint32_t> guest_by_real_;
  std::function<void(VPid)> guest_lost_;
  void sweep_guests();
  Status come_home(const Peer& peer, VPid v, uint64_t migration);
  void rewatch(ProcessRecord& rec);
};

}  // namespace vproc::daemon
