#include "process_table.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "pidfd.h"
#include "proc_stat.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

std::vector<uint32_t> snapshot(const std::unordered_set<uint32_t>& s) {
  return std::vector<uint32_t>(s.begin(), s.end());
}

const char* kind(bool thread) { return thread ? "thread" : "process"; }

}  // namespace

ProcessTable::ProcessTable(SharedTableWriter& table, ExitWatch& watch, Logger& log,
                           VPidAllocator allocator)
    : table_(table), watch_(watch), log_(log), allocator_(allocator) {}

ProcessTable::~ProcessTable() {
  for (auto& [v, rec] : records_) close_pidfd(rec);
}

void ProcessTable::adopt(const AdoptionReport& report) {
  for (VPid v : report.kept) {
    const Record& r = table_.record(v);
    uint64_t w = r.word.load(std::memory_order_acquire);
    ProcessRecord rec;
    rec.vpid = v;
    rec.real = word_real(w);
    rec.state = word_state(w);
    rec.thread = word_thread(w);
    rec.parent = r.parent;
    rec.uid = r.uid;
    rec.start_ticks = r.start_ticks;
    rec.tgid = VPid{r.tgid};
    rec.ckpt_signal = record_ckpt_signal(r.flags);
    rec.location = record_location(r.flags);
    if (rec.live()) {
      int fd = open_pidfd(rec.real, rec.thread);
      // Re-check after opening: the pidfd must name the task the record describes.
      ProcStat st;
      bool same = rec.thread ? read_proc_stat(rec.real, st) && st.start_ticks == rec.start_ticks
                             : process_matches(rec.real, rec.start_ticks);
      if (fd >= 0 && same) {
        rec.pidfd = fd;
      } else if (fd >= 0) {
        close(fd);
      }
    }
    records_[v.value] = rec;
    ProcessRecord& stored = records_[v.value];
    if (stored.state == RecordState::Zombie) {
      zombies_.insert(v.value);  // nothing to watch: the sweep notices the reap
    } else if (stored.state == RecordState::Retired) {
      retired_.insert(v.value);
    } else if (stored.pidfd >= 0) {
      watch_.watch(v, stored.pidfd);
    } else {
      unwatched_.insert(v.value);
    }
  }
  for (const auto& [v, holder] : report.leases) leases_.grant(holder, v, 1);
}

const ProcessRecord* ProcessTable::find(VPid v) const {
  return const_cast<ProcessTable*>(this)->find_mut(v);
}

ProcessRecord* ProcessTable::find_mut(VPid v) {
  auto& map = table_.owns(v) ? records_ : guests_;
  auto it = map.find(v.value);
  return it == map.end() ? nullptr : &it->second;
}

const ProcessRecord* ProcessTable::find_real(RealPid real) const {
  if (!real || real.value >= kRealPidLimit) return nullptr;
  if (auto g = guest_by_real_.find(real.value); g != guest_by_real_.end()) return find(VPid{g->second});
  const ProcessRecord* rec = find(VPid{table_.r2v(real)});
  return rec && rec->real == real ? rec : nullptr;
}

VPid ProcessTable::registered_vpid(const Peer& peer) const {
  if (!peer.pid || !peer.start_ticks) return VPid{};
  const ProcessRecord* rec = find_real(peer.pid);
  if (rec && rec->real == peer.pid && !rec->thread && rec->state == RecordState::Alive &&
      rec->start_ticks == peer.start_ticks)
    return rec->vpid;
  return VPid{};
}

size_t ProcessTable::live_processes() const {
  size_t n = 0;
  for (const auto& [v, rec] : records_) n += rec.live() && !rec.thread && rec.location < 0;
  return n + guests_.size();
}

// --- requests --------------------------------------------------------------

Status ProcessTable::hello(const Peer& peer, const wire::Hello& req, wire::HelloOk& out) {
  if (req.protocol != wire::kProtocolVersion)
    return Status::failure(EPROTO, strf("protocol version mismatch: client %u, daemon %u", req.protocol,
                                        wire::kProtocolVersion));
  if (!peer.pid || !peer.start_ticks)
    return Status::failure(ESRCH, "the connecting process has no pid in this namespace or is gone");
  VPid v;
  VPid known = registered_vpid(peer);
  if (req.vpid == 0) {
    if (known) {
      // A raw exec of a registered process: same process, same vpid.
      v = known;
      log_.event("hello: pid %u is already vpid %u", peer.pid.value, v.value);
    } else {
      SerialRun run;
      Status s = allocator_.allocate(1, table_.serial_cursor(),
                                     [this](uint32_t serial) { return table_.serial_taken(serial); }, run);
      if (!s.ok()) return s;
      v = table_.vpid_for_serial(run.first);
      s = register_peer(peer, v, req.parent, int(req.ckpt_signal));
      if (!s.ok()) return s;
    }
  } else {
    v = VPid{req.vpid};
    const ProcessRecord* guest = table_.owns(v) ? nullptr : find(v);
    if (guest && guest->real == peer.pid && guest->start_ticks == peer.start_ticks) {
      // A guest's library re-registering (a reconnect, a raw exec).
    } else if (!table_.owns(v))
      return Status::failure(EINVAL, strf("%u is not a vpid of node %u", req.vpid, table_.node_index()));
    const ProcessRecord* rec = find(v);
    if (rec) {
      if (!(rec->real == peer.pid && rec->live() && !rec->thread && rec->start_ticks == peer.start_ticks))
        return Status::failure(EEXIST, strf("vpid %u is in use by real pid %u", v.value, rec->real.value));
      // Re-registration of what we already know (daemon restarted, or exec).
    } else {
      if (known)
        return Status::failure(EEXIST, strf("pid %u is already registered as vpid %u, not %u",
                                            peer.pid.value, known.value, v.value));
      VPid holder = leases_.holder_of(v);
      if (holder) {
        // Only the holder's own child may claim it (its Spawned may still be on the way).
        const ProcessRecord* h = find(holder);
        ProcStat st;
        if (!h || !read_proc_stat(peer.pid, st) || st.ppid != h->real.value)
          return Status::failure(EEXIST, strf("vpid %u is reserved for another process", v.value));
        leases_.take(holder, v);
        table_.clear_leased(v);
      }
      Status s = register_peer(peer, v, req.parent, int(req.ckpt_signal));
      if (!s.ok()) return s;
    }
  }
  // A new registration takes the value as told (0: disabled). An older record
  // keeps what it had unless told a signal: the library's re-registrations
  // (reconnects, lease refills) may not say.
  if (req.ckpt_signal != 0) set_ckpt_signal(v, int(req.ckpt_signal));
  out = {};
  out.vpid = v.value;
  // A guest that exec'd without passing its identity on (a raw exec) stays
  // one: its library must not take the keeper for its parent.
  if (const ProcessRecord* rec = find(v); rec && rec->runs_as_guest()) {
    out.guest = true;
    out.parent = rec->parent;
  }
  // A process that says Hello again and again (exec after exec) keeps what it
  // holds; beyond kMaxHeld it gets no more (an empty lease: it asks later).
  if (leases_.held_by(v) + kInitialLease <= kMaxHeld) {
    Status s = grant_lease(v, kInitialLease, out.lease);
    if (!s.ok()) log_.warning("no initial lease for vpid %u: %s", v.value, s.message.c_str());
  }
  return Status::success();
}

Status ProcessTable::register_peer(const Peer& peer, VPid v, uint32_t parent, int ckpt_signal) {
  int fd = open_pidfd(peer.pid, false);
  if (fd == -ESRCH) return Status::failure(ESRCH, strf("the connecting process (pid %u) is gone", peer.pid.value));
  ProcStat st;
  if (!read_proc_stat(peer.pid, st) || st.start_ticks != peer.start_ticks) {
    if (fd >= 0) close(fd);
    return Status::failure(ESRCH, strf("the connecting process (pid %u) is gone", peer.pid.value));
  }
  if (fd < 0) log_.warning("pidfd_open(%u): %s; its exit is noticed by polling", peer.pid.value, strerror(-fd));
  ProcUids uids;
  ProcessRecord rec;
  rec.vpid = v;
  rec.real = peer.pid;
  rec.parent = parent;
  rec.uid = read_proc_uids(peer.pid, uids) ? uids.real : peer.uid;
  rec.start_ticks = peer.start_ticks;
  rec.state = RecordState::Alive;
  rec.tgid = v;
  rec.pidfd = fd;
  rec.ckpt_signal = ckpt_signal > 64 ? 0 : ckpt_signal;
  install(rec);
  log_.event("registered vpid %u = pid %u (parent %u, uid %u)", v.value, peer.pid.value, parent, rec.uid);
  return Status::success();
}

Status ProcessTable::spawned(const Peer& peer, const wire::Spawned& msg) {
  VPid sender = registered_vpid(peer);
  if (!sender)
    return Status::failure(EPERM, strf("spawned from pid %u, which is not registered", peer.pid.value));
  VPid v{msg.vpid};
  RealPid real{msg.real};
  if (!table_.owns(v))
    return Status::failure(EINVAL, strf("spawned: %u is not a vpid of node %u", msg.vpid, table_.node_index()));
  if (!real || real.value >= kRealPidLimit)
    return Status::failure(EINVAL, strf("spawned: %u is not a real pid", msg.real));
  if (const ProcessRecord* rec = find(v)) {
    if (rec->real == real && rec->thread == msg.thread) return Status::success();  // re-sent
    return Status::failure(EEXIST, strf("spawned: vpid %u is in use by real pid %u", v.value, rec->real.value));
  }
  if (leases_.holder_of(v) != sender)
    return Status::failure(EPERM, strf("spawned: vpid %u is not leased to the sender (vpid %u, pid %u)",
                                       v.value, sender.value, peer.pid.value));
  if (msg.thread && real == peer.pid)
    return Status::failure(EINVAL, strf("spawned: thread %u is the main thread of its process", real.value));

  // A thread's end is seen through its pidfd. A child process is not watched:
  // its parent (under vproc) sends Reaped when it has waited for it, and the
  // sweep polls for one reaped some other way (auto-reaping, a parent that died
  // first). An exit watch per child woke this daemon once more per fork,
  // competing with the forking program for the CPUs.
  constexpr int kNotWatched = -EAGAIN;
  int fd = msg.thread ? open_pidfd(real, true) : kNotWatched;
  ProcStat st;
  bool present = fd != -ESRCH && (msg.thread ? read_task_stat(peer.pid, real, st) : read_proc_stat(real, st));
  // A child reaped while the kernel renders its stat is gone, not someone
  // else's. The kernel takes the state first and the parent only while the
  // process still has its signal handlers (lock_task_sighand); once the reap
  // has released them the parent reads 0, beside state X or, reaped between
  // the two reads, the Z (or R) it had. Parent 0 is also what pid 1 and a
  // process whose parent is outside our pid namespace show, so it is read
  // again: a reaped pid no longer resolves.
  if (present && !msg.thread) {
    ProcStat again;
    if (st.state == 'X' ||
        (st.ppid == 0 && (!read_proc_stat(real, again) || again.state == 'X' || again.start_ticks != st.start_ticks)))
      present = false;
  }
  if (!present && msg.thread && fd != -ESRCH && read_proc_stat(real, st)) {
    // It exists, but not among the sender's threads.
    if (fd >= 0) close(fd);
    return Status::failure(EPERM, strf("spawned: tid %u is not a thread of the sender (pid %u)", real.value,
                                       peer.pid.value));
  }
  if (!present) {
    // Gone before we heard of it: a process was reaped already (its parent will
    // send Reaped), a thread finished.
    if (fd >= 0) close(fd);
    leases_.take(sender, v);
    table_.clear_leased(v);
    if (!msg.thread) install_gone(v, real, msg.parent, sender);
    log_.event("spawned %s vpid %u = pid %u had already exited", kind(msg.thread), v.value, real.value);
    return Status::success();
  }
  bool related = msg.thread || st.ppid == peer.pid.value;
  if (!related) {
    // If the sender has exited since (a zombie counts: `(cmd &)` in a shell),
    // its child was reparented: accept what the sender said while it lived,
    // unless the pid names a registered process or something older than the sender.
    ProcStat sender;
    bool sender_gone = !read_proc_stat(peer.pid, sender) || sender.start_ticks != peer.start_ticks ||
                       sender.state == 'Z' || sender.state == 'X';
    const ProcessRecord* other = find(VPid{table_.r2v(real)});
    bool claimed = other && other->live() && other->real == real && other->start_ticks == st.start_ticks;
    if (!sender_gone || claimed || st.start_ticks < peer.start_ticks) {
      if (fd >= 0) close(fd);
      return Status::failure(EPERM, strf("spawned: pid %u is not a child of the sender (pid %u)", real.value,
                                         peer.pid.value));
    }
  }
  if (fd < 0 && fd != kNotWatched)
    log_.warning("pidfd_open(%u): %s; its exit is noticed by polling", real.value, strerror(-fd));
  ProcessRecord rec;
  rec.vpid = v;
  rec.real = real;
  rec.parent = msg.parent;
  // A child starts with its creator's credentials; the list and signal checks
  // read the live uids, so /proc/<pid>/status (costly to render) is not read
  // on this per-fork path.
  rec.uid = peer.uid;
  rec.start_ticks = st.start_ticks;
  rec.state = RecordState::Alive;
  rec.thread = msg.thread;
  rec.tgid = msg.thread ? sender : v;
  rec.pidfd = fd >= 0 ? fd : -1;
  // A forked child inherits its parent's signal handlers, the checkpoint one too.
  if (const ProcessRecord* parent = find(sender); parent && !msg.thread) rec.ckpt_signal = parent->ckpt_signal;
  leases_.take(sender, v);
  install(rec);
  log_.event("registered %s vpid %u = pid %u (parent %u, by vpid %u)", kind(msg.thread), v.value, real.value,
             msg.parent, sender.value);
  return Status::success();
}

Status ProcessTable::reaped(const Peer& peer, uint32_t vpid) {
  ProcessRecord* rec = find_mut(VPid{vpid});
  if (!rec) return Status::failure(ESRCH, strf("reaped: no such vpid %u", vpid));
  if (rec->thread) return Status::failure(EINVAL, strf("reaped: vpid %u is a thread", vpid));
  VPid sender = registered_vpid(peer);
  bool is_parent = (sender && rec->parent == sender.value) || rec->parent == peer.pid.value;
  if (!is_parent && caller_uids(peer).effective != 0)
    return Status::failure(EPERM, strf("reaped: vpid %u is not a child of the sender (pid %u)", vpid,
                                       peer.pid.value));
  if (rec->state == RecordState::Retired) return Status::success();  // the sweep was first
  if (rec->start_ticks && process_matches(rec->real, rec->start_ticks))
    return Status::failure(EBUSY, strf("reaped: vpid %u (pid %u) still exists", vpid, rec->real.value));
  retire(*rec);
  log_.event("vpid %u (pid %u) reaped", vpid, rec->real.value);
  return Status::success();
}

Status ProcessTable::lease(const Peer& peer, uint32_t count, wire::Lease& out) {
  VPid holder = registered_vpid(peer);
  if (!holder)
    return Status::failure(EPERM, strf("lease request from pid %u, which is not registered (send Hello first)",
                                       peer.pid.value));
  if (count == 0) return Status::failure(EINVAL, "a lease must ask for at least one vpid");
  uint32_t want = std::min(count, kMaxLease);
  uint32_t held = leases_.held_by(holder);
  if (held + want > kMaxHeld)
    return Status::failure(EAGAIN, strf("vpid %u already holds %u unused vpids", holder.value, held));
  return grant_lease(holder, want, out);
}

Status ProcessTable::grant_lease(VPid holder, uint32_t want, wire::Lease& out) {
  SerialRun run;
  Status s = allocator_.allocate(want, table_.serial_cursor(),
                                 [this](uint32_t serial) { return table_.serial_taken(serial); }, run);
  if (!s.ok()) return s;
  VPid first = table_.vpid_for_serial(run.first);
  for (uint32_t i = 0; i < run.count; ++i) table_.mark_leased(VPid{first.value + i}, holder);
  leases_.grant(holder, first, run.count);
  out = {first.value, run.count};
  return Status::success();
}

// --- events ----------------------------------------------------------------

void ProcessTable::on_exit(VPid v) {
  ProcessRecord* rec = find_mut(v);
  if (!rec || !rec->live()) return;
  if (rec->thread) {
    log_.event("thread vpid %u (tid %u) exited", v.value, rec->real.value);
    free_record(v);
    return;
  }
  if (rec->state == RecordState::Alive) {
    rec->state = RecordState::Zombie;
    table_.set_state(v, RecordState::Zombie);
    unwatched_.erase(v.value);
    zombies_.insert(v.value);
    return_leases(v);
    log_.event("vpid %u (pid %u) exited", v.value, rec->real.value);
  }
}

void ProcessTable::sweep() {
  sweep_guests();
  for (uint32_t v : snapshot(zombies_)) {
    ProcessRecord* rec = find_mut(VPid{v});
    if (rec && !process_matches(rec->real, rec->start_ticks)) {
      log_.event("vpid %u (pid %u) was reaped", v, rec->real.value);
      retire(*rec);
    }
  }
  for (uint32_t v : snapshot(unwatched_)) {
    ProcessRecord* rec = find_mut(VPid{v});
    if (!rec) continue;
    ProcStat st;
    if (read_proc_stat(rec->real, st) && st.start_ticks == rec->start_ticks) {
      if (st.state == 'Z' && !rec->thread) on_exit(rec->vpid);
      continue;
    }
    if (rec->thread) {
      free_record(rec->vpid);
    } else {
      on_exit(rec->vpid);
      if (ProcessRecord* again = find_mut(VPid{v})) retire(*again);
    }
  }
  if (retired_.empty()) return;
  // A reaped leader's pid stays reserved while its process group or its session
  // exists (the kernel will not reuse it). Sessions: those of our live
  // processes, read once per sweep and only if a group check leaves it open.
  std::unordered_set<int32_t> sessions;
  bool sessions_read = false;
  auto session_exists = [&](int32_t sid) {
    if (!sessions_read) {
      sessions_read = true;
      for (const auto& [v, rec] : records_) {
        ProcStat st;
        if (rec.live() && !rec.thread && read_proc_stat(rec.real, st) && st.start_ticks == rec.start_ticks)
          sessions.insert(st.session);
      }
    }
    return sessions.count(sid) != 0;
  };
  for (uint32_t v : snapshot(retired_)) {
    ProcessRecord* rec = find_mut(VPid{v});
    if (!rec) continue;
    pid_t r = pid_t(rec->real.value);
    ProcStat st;
    bool reused = read_proc_stat(rec->real, st);  // someone else has the pid now
    bool group = !reused && r > 0 && (kill(-r, 0) == 0 || errno == EPERM);
    if (reused || (!group && !session_exists(r))) {
      log_.event("vpid %u (pid %u) freed", v, rec->real.value);
      free_record(rec->vpid);
    }
  }
}

// --- record keeping --------------------------------------------------------

RecordFields ProcessTable::fields_of(const ProcessRecord& rec) {
  RecordFields f;
  f.real = rec.real;
  f.state = rec.state;
  f.thread = rec.thread;
  f.parent = rec.parent;
  f.uid = rec.uid;
  f.start_ticks = rec.start_ticks;
  f.tgid = rec.tgid.value;
  f.ckpt_signal = rec.ckpt_signal;
  f.location = rec.location;
  return f;
}

void ProcessTable::install(const ProcessRecord& rec, bool claim_real) {
  VPid displaced;
  if (claim_real) {
    const ProcessRecord* old = find(VPid{table_.r2v(rec.real)});
    if (old && old->vpid != rec.vpid && old->real == rec.real) displaced = old->vpid;
  }
  table_.publish(rec.vpid, fields_of(rec), claim_real);
  ProcessRecord& stored = records_[rec.vpid.value] = rec;
  if (displaced) {
    // The kernel reused the pid, so the older owner is gone for good.
    log_.event("pid %u now belongs to vpid %u; freeing vpid %u", rec.real.value, rec.vpid.value,
               displaced.value);
    free_record(displaced);
  }
  switch (stored.state) {
    case RecordState::Alive:
      if (stored.pidfd >= 0) {
        watch_.watch(stored.vpid, stored.pidfd);
      } else {
        unwatched_.insert(stored.vpid.value);
      }
      break;
    case RecordState::Zombie: zombies_.insert(stored.vpid.value); break;
    case RecordState::Retired: retired_.insert(stored.vpid.value); break;
    case RecordState::Free: break;
  }
}

void ProcessTable::install_gone(VPid v, RealPid real, uint32_t parent, VPid holder) {
  ProcessRecord rec;
  rec.vpid = v;
  rec.real = real;
  rec.parent = parent;
  rec.state = RecordState::Retired;
  rec.tgid = v;
  const ProcessRecord* h = find(holder);
  rec.uid = h ? h->uid : 0;
  // Point r2v at it only if no live process claims that pid (it may be reused).
  const ProcessRecord* cur = find(VPid{table_.r2v(real)});
  bool claim = !(cur && cur->live() && cur->real == real);
  install(rec, claim);
}

void ProcessTable::retire(ProcessRecord& rec) {
  if (rec.guest) return remove_guest(rec.vpid);  // not in the shared table
  close_pidfd(rec);
  bool was_alive = rec.state == RecordState::Alive;
  rec.state = RecordState::Retired;
  table_.set_state(rec.vpid, RecordState::Retired);
  zombies_.erase(rec.vpid.value);
  unwatched_.erase(rec.vpid.value);
  retired_.insert(rec.vpid.value);
  if (was_alive) return_leases(rec.vpid);
}

void ProcessTable::free_record(VPid v) {
  ProcessRecord* rec = find_mut(v);
  if (!rec) return;
  if (rec->guest) return remove_guest(v);  // not in the shared table
  close_pidfd(*rec);
  table_.release(v);
  zombies_.erase(v.value);
  retired_.erase(v.value);
  unwatched_.erase(v.value);
  records_.erase(v.value);
  return_leases(v);
}

void ProcessTable::return_leases(VPid holder) {
  for (VPid v : leases_.release_holder(holder)) table_.clear_leased(v);
}

void ProcessTable::close_pidfd(ProcessRecord& rec) {
  if (rec.pidfd < 0) return;
  watch_.unwatch(rec.vpid);
  close(rec.pidfd);
  rec.pidfd = -1;
}

}  // namespace vproc::daemon
