#include "shared_table_writer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "proc_stat.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

Status map_fd(int fd, const std::string& path, char*& base) {
  void* m = mmap(nullptr, kTableBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) {
    int e = errno;
    return Status::failure(e, strf("cannot map table %s: %s", path.c_str(), strerror(e)));
  }
  base = static_cast<char*>(m);
  return Status::success();
}

// Why an existing table cannot be adopted, or "" if it can.
std::string invalid_reason(int fd, char*& base, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) return strf("fstat failed: %s", strerror(errno));
  if (size_t(st.st_size) != kTableBytes)
    return strf("size %lld bytes, expected %zu", (long long)st.st_size, kTableBytes);
  Status s = map_fd(fd, path, base);
  if (!s.ok()) return s.message;
  auto* h = reinterpret_cast<const TableHeader*>(base);
  if (h->magic != kTableMagic) return "bad magic (not a vproc table)";
  if (h->version != kTableVersion)
    return strf("format version %u, this daemon writes version %u", h->version, kTableVersion);
  if (!valid_node_index(h->node_index)) return strf("corrupt node index %u", h->node_index);
  return "";
}

void init_header(char* base, uint32_t node_index, const std::string& name) {
  auto* h = reinterpret_cast<TableHeader*>(base);
  h->magic = kTableMagic;
  h->version = kTableVersion;
  h->node_index = node_index;
  h->serial_cursor.store(1);
  h->daemon_pid.store(0);
  h->generation.store(0);
  memset(h->node_name, 0, sizeof h->node_name);
  memcpy(h->node_name, name.data(), std::min(name.size(), sizeof h->node_name - 1));
}

// Writes a fresh table beside `path` and renames it over, so a reader opening
// `path` sees either the old file or a complete new one.
Status create_table(const std::string& path, uint32_t node_index, const std::string& name,
                    int& fd_out, char*& base_out) {
  std::string tmp = strf("%s.new.%d", path.c_str(), int(getpid()));
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    return Status::failure(e, strf("cannot create table %s: %s", tmp.c_str(), strerror(e)));
  }
  auto fail = [&](const char* what) {
    int e = errno;
    close(fd);
    unlink(tmp.c_str());
    return Status::failure(e, strf("cannot create table %s: %s: %s", path.c_str(), what, strerror(e)));
  };
  // Readable by everyone: processes of every user map it (the daemon may be root).
  if (fchmod(fd, 0644) != 0) return fail("fchmod");
  if (ftruncate(fd, off_t(kTableBytes)) != 0) return fail("ftruncate");
  char* base = nullptr;
  Status s = map_fd(fd, tmp, base);
  if (!s.ok()) {
    close(fd);
    unlink(tmp.c_str());
    return s;
  }
  init_header(base, node_index, name);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    munmap(base, kTableBytes);
    return fail("rename");
  }
  fd_out = fd;
  base_out = base;
  return Status::success();
}

}  // namespace

Status SharedTableWriter::open(const std::string& path, const TableIdentity& identity,
                               std::unique_ptr<SharedTableWriter>& out, AdoptionReport& report) {
  report = {};
  if (identity.node_index && !valid_node_index(*identity.node_index))
    return Status::failure(EINVAL, strf("node index %u out of range 0..%u", *identity.node_index,
                                        kMaxNodes - 1));
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  char* base = nullptr;
  if (fd >= 0) {
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
      close(fd);
      return Status::failure(EEXIST, strf("table path %s exists and is not a regular file", path.c_str()));
    }
    std::string why = invalid_reason(fd, base, path);
    if (why.empty()) {
      uint32_t node = reinterpret_cast<TableHeader*>(base)->node_index;
      if (identity.node_index && *identity.node_index != node && identity.replace_other_node) {
        why = strf("it belonged to node index %u, and this daemon is node %u", node, *identity.node_index);
      } else if (identity.node_index && *identity.node_index != node) {
        munmap(base, kTableBytes);
        close(fd);
        return Status::failure(
            EINVAL, strf("table %s belongs to node index %u, not %u (remove the file, or start "
                         "with --node-index %u)",
                         path.c_str(), node, *identity.node_index, node));
      }
    }
    if (why.empty()) {
      out.reset(new SharedTableWriter(path, fd, base));
      report.origin = AdoptionReport::Origin::Adopted;
      out->adopt(report);
    } else {
      if (base) munmap(base, kTableBytes);
      close(fd);
      report.origin = AdoptionReport::Origin::Recreated;
      report.recreate_reason = why;
    }
  } else if (errno != ENOENT) {
    int e = errno;
    return Status::failure(e, strf("cannot open table %s: %s", path.c_str(), strerror(e)));
  }
  if (!out) {
    uint32_t node = identity.node_index.value_or(0);
    Status s = create_table(path, node, identity.node_name, fd, base);
    if (!s.ok()) return s;
    out.reset(new SharedTableWriter(path, fd, base));
  }
  TableHeader& h = out->header();
  memset(h.node_name, 0, sizeof h.node_name);
  memcpy(h.node_name, identity.node_name.data(),
         std::min(identity.node_name.size(), sizeof h.node_name - 1));
  uint32_t cursor = h.serial_cursor.load();
  if (cursor == 0 || cursor >= kSerialLimit) h.serial_cursor.store(1);
  h.generation.fetch_add(1);
  h.daemon_pid.store(uint32_t(getpid()), std::memory_order_release);
  return Status::success();
}

SharedTableWriter::SharedTableWriter(std::string path, int fd, char* base)
    : path_(std::move(path)), fd_(fd), base_(base) {
  node_index_ = header().node_index;
}

SharedTableWriter::~SharedTableWriter() {
  if (base_) munmap(base_, kTableBytes);
  if (fd_ >= 0) close(fd_);
}

uint32_t SharedTableWriter::r2v(RealPid r) const {
  if (!r || r.value >= kRealPidLimit) return 0;
  return r2v_array()[r.value].load(std::memory_order_acquire);
}

void SharedTableWriter::publish(VPid v, const RecordFields& f, bool claim_real) {
  Record& r = records()[serial_of(v)];
  r.parent = f.parent;
  r.uid = f.uid;
  r.start_ticks = f.start_ticks;
  r.tgid = f.tgid;
  r.flags = ckpt_signal_flags(f.ckpt_signal) | location_flags(f.location);
  r.word.store(pack_word(f.real, f.state, f.thread), std::memory_order_release);
  if (claim_real && f.real && f.real.value < kRealPidLimit)
    r2v_array()[f.real.value].store(v.value, std::memory_order_release);
}

void SharedTableWriter::set_ckpt_signal(VPid v, int sig) {
  Record& r = records()[serial_of(v)];
  if (r.word.load(std::memory_order_relaxed) == 0) return;  // Free: its flags hold the lease mark
  r.flags = (r.flags & ~(kRecordCkptKnown | (0xffu << kRecordCkptShift))) | ckpt_signal_flags(sig);
}

void SharedTableWriter::set_location(VPid v, int node) {
  Record& r = records()[serial_of(v)];
  if (r.word.load(std::memory_order_relaxed) == 0) return;  // Free: its flags hold the lease mark
  r.flags = (r.flags & ~(kRecordAway | kRecordLocationMask)) | location_flags(node);
}

void SharedTableWriter::set_state(VPid v, RecordState state) {
  Record& r = records()[serial_of(v)];
  uint64_t w = r.word.load(std::memory_order_relaxed);
  r.word.store(pack_word(word_real(w), state, word_thread(w)), std::memory_order_release);
}

void SharedTableWriter::release(VPid v) {
  Record& r = records()[serial_of(v)];
  uint64_t w = r.word.load(std::memory_order_relaxed);
  RealPid real = word_real(w);
  if (real && real.value < kRealPidLimit) {
    // Only if it still names us: a newer process may own this pid already.
    uint32_t expected = v.value;
    r2v_array()[real.value].compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
  }
  r.word.store(0, std::memory_order_release);
  r.parent = r.uid = r.tgid = r.flags = 0;
  r.start_ticks = 0;
}

void SharedTableWriter::mark_leased(VPid v, VPid holder) {
  Record& r = records()[serial_of(v)];
  r.parent = holder.value;
  r.flags = kRecordLeased;
}

void SharedTableWriter::clear_leased(VPid v) {
  Record& r = records()[serial_of(v)];
  if (r.word.load(std::memory_order_relaxed) != 0) return;  // in use: not ours to clear
  r.parent = 0;
  r.flags = 0;
}

bool SharedTableWriter::serial_taken(uint32_t serial) const {
  const Record& r = records()[serial];
  return r.word.load(std::memory_order_relaxed) != 0 || (r.flags & kRecordLeased);
}

void SharedTableWriter::disown() {
  header().daemon_pid.store(0, std::memory_order_release);
  msync(base_, kHeaderBytes, MS_ASYNC);
}

template <typename Fn>
void SharedTableWriter::for_each_stored_serial(Fn&& fn) const {
  off_t pos = off_t(kRecordsOffset);
  const off_t end = off_t(kR2vOffset);
  while (pos < end) {
    off_t data = lseek(fd_, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) return;  // no data beyond pos
      data = pos;                  // SEEK_DATA unsupported: scan everything
    }
    if (data >= end) return;
    off_t hole = lseek(fd_, data, SEEK_HOLE);
    if (hole < 0 || hole > end) hole = end;
    uint32_t first = uint32_t((size_t(data) - kRecordsOffset) / sizeof(Record));
    uint32_t last = uint32_t((size_t(hole) - kRecordsOffset + sizeof(Record) - 1) / sizeof(Record));
    if (first == 0) first = 1;  // serial 0 is never used
    for (uint32_t s = first; s < last && s < kSerialLimit; ++s) fn(s);
    pos = hole > data ? hole : data + 1;
  }
}

void SharedTableWriter::adopt(AdoptionReport& report) {
  // Pass 1: processes. Pass 2: threads (their process must have been kept) and
  // leases (their holder must be alive).
  std::unordered_map<uint32_t, RealPid> live_process;  // vpid -> real pid, Alive or Zombie
  auto free_record = [&](VPid v) {
    release(v);
    ++report.freed;
  };
  for_each_stored_serial([&](uint32_t s) {
    Record& r = records()[s];
    uint64_t w = r.word.load(std::memory_order_relaxed);
    if (w == 0 || word_thread(w)) return;
    VPid v = vpid_for_serial(s);
    RealPid real = word_real(w);
    RecordState st = word_state(w);
    bool keep = false;
    if (st == RecordState::Alive || st == RecordState::Zombie) {
      keep = process_matches(real, r.start_ticks);
      if (keep) live_process[v.value] = real;
    } else if (st == RecordState::Retired) {
      // Reaped; its pid may still name a group or session. If any process has
      // that pid now, it was reused, so the group is gone. Otherwise the sweep decides.
      ProcStat ps;
      keep = !read_proc_stat(real, ps);
    }
    if (keep) {
      report.kept.push_back(v);
    } else {
      free_record(v);
    }
  });
  for_each_stored_serial([&](uint32_t s) {
    Record& r = records()[s];
    uint64_t w = r.word.load(std::memory_order_relaxed);
    VPid v = vpid_for_serial(s);
    if (w == 0) {
      if (!(r.flags & kRecordLeased)) return;
      VPid holder{r.parent};
      auto it = live_process.find(holder.value);
      if (it != live_process.end() && word_state(record(holder).word.load()) == RecordState::Alive) {
        report.leases.emplace_back(v, holder);
      } else {
        clear_leased(v);
        ++report.leases_dropped;
      }
      return;
    }
    if (!word_thread(w)) return;
    auto it = live_process.find(r.tgid);
    ProcStat ts;
    if (it != live_process.end() && read_task_stat(it->second, word_real(w), ts) &&
        ts.start_ticks == r.start_ticks) {
      report.kept.push_back(v);
    } else {
      free_record(v);
    }
  });
  // Make r2v agree with the kept records (a crash may have left it half-written).
  // Live records first, so a retired group leader never hides a live process.
  for (int pass = 0; pass < 2; ++pass) {
    for (VPid v : report.kept) {
      uint64_t w = record(v).word.load(std::memory_order_relaxed);
      bool retired = word_state(w) == RecordState::Retired;
      if (retired != (pass == 1)) continue;
      RealPid real = word_real(w);
      if (!real || real.value >= kRealPidLimit) continue;
      auto& slot = r2v_array()[real.value];
      uint32_t cur = slot.load(std::memory_order_relaxed);
      if (cur == v.value) continue;
      bool cur_live = false;
      if (cur && owns(VPid{cur})) {
        uint64_t cw = record(VPid{cur}).word.load(std::memory_order_relaxed);
        cur_live = cw != 0 && word_real(cw) == real;
      }
      if (!retired || !cur_live) slot.store(v.value, std::memory_order_release);
    }
  }
}

}  // namespace vproc::daemon
