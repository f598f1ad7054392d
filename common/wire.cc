#include "wire.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>

#include "protocol.capnp.h"

namespace vproc::wire {
namespace {

template <typename T, typename... Ts>
constexpr bool one_of = (std::is_same_v<T, Ts> || ...);

// Builder over a caller-provided, zeroed first segment. As long as the message fits
// in that segment Cap'n Proto allocates nothing (checked by wire_noalloc_test).
constexpr size_t kScratchWords = kSmallFrameBytes / sizeof(capnp::word);
constexpr size_t kRequestScratchWords = kRequestFrameBytes / sizeof(capnp::word);

size_t finish(capnp::MessageBuilder& mb, void* out, size_t cap) noexcept {
  auto segs = mb.getSegmentsForOutput();
  if (segs.size() != 1) return 0;
  size_t body = segs[0].size() * sizeof(capnp::word);
  size_t total = 8 + body;
  if (total > cap) return 0;
  auto* hdr = static_cast<uint32_t*>(out);
  hdr[0] = 0;  // segment count - 1
  hdr[1] = uint32_t(segs[0].size());
  memcpy(static_cast<char*>(out) + 8, segs[0].begin(), body);
  return total;
}

// Reads a single-segment frame without allocating: refuses anything else.
bool single_segment(const void* buf, size_t len) {
  if (len < 8 || (reinterpret_cast<uintptr_t>(buf) & 7)) return false;
  auto* hdr = static_cast<const uint32_t*>(buf);
  return hdr[0] == 0 && size_t(hdr[1]) * 8 + 8 == len;
}

}  // namespace

template <size_t N>
void Text<N>::set(const char* p, size_t len) {
  if (len >= N) len = N - 1;
  memcpy(s, p, len);
  s[len] = '\0';
}
template <size_t N>
void Text<N>::set(const char* p) {
  set(p, strlen(p));
}
template struct Text<64>;
template struct Text<200>;
template struct Text<400>;
template struct Text<kPathTextBytes>;

size_t frame_size(const void* buf, size_t have) noexcept {
  if (have < 4) return 0;
  auto* hdr = static_cast<const uint32_t*>(buf);
  uint64_t segments = uint64_t(hdr[0]) + 1;
  if (segments > 512) return SIZE_MAX;
  uint64_t table_bytes = ((segments + 2) & ~uint64_t(1)) * 4;  // count + sizes, padded to 8
  if (have < table_bytes) return 0;
  uint64_t body = 0;
  for (uint64_t i = 0; i < segments; ++i) body += uint64_t(hdr[1 + i]) * 8;
  uint64_t total = table_bytes + body;
  return total > kMaxFrameBytes ? SIZE_MAX : size_t(total);
}

namespace {

void set_result(proto::CheckpointResult::Builder b, const CheckpointResult& m) {
  b.setRequestId(m.request_id);
  b.setVpid(m.vpid);
  b.setErrno(m.err);
  b.setMessage(m.message.s);
  b.setImageBytes(m.image_bytes);
  b.setDataBytes(m.data_bytes);
  b.setFrozenNs(m.frozen_ns);
  b.setWriteNs(m.write_ns);
  b.setPath(m.path.s);
}

CheckpointResult get_result(proto::CheckpointResult::Reader r) {
  CheckpointResult m;
  m.request_id = r.getRequestId();
  m.vpid = r.getVpid();
  m.err = r.getErrno();
  m.message.set(r.getMessage().cStr(), r.getMessage().size());
  m.image_bytes = r.getImageBytes();
  m.data_bytes = r.getDataBytes();
  m.frozen_ns = r.getFrozenNs();
  m.write_ns = r.getWriteNs();
  m.path.set(r.getPath().cStr(), r.getPath().size());
  return m;
}

// Messages carrying paths need a bigger first segment than the library's
// fork-path messages (which are kept to kRequestFrameBytes).
bool is_large(const Request& req) {
  return std::holds_alternative<CheckpointRequest>(req) || std::holds_alternative<CheckpointResult>(req) ||
         std::holds_alternative<CheckpointPolicy>(req) || std::holds_alternative<MigrateRequest>(req) ||
         std::holds_alternative<ClusterQuery>(req);
}

size_t encode_into(const Request& req, void* out, size_t cap, capnp::word* scratch, size_t words);

// Its own frame: were the 4 KiB scratch in encode()'s, every fork-path
// message would reach a page further down the stack, and a fork parent pays a
// copy-on-write fault for each stack page it writes while the child lives.
[[gnu::noinline]] size_t encode_large(const Request& req, void* out, size_t cap) {
  alignas(8) capnp::word scratch[kLargeFrameBytes / sizeof(capnp::word)];
  return encode_into(req, out, cap, scratch, kLargeFrameBytes / sizeof(capnp::word));
}

}  // namespace

size_t encode(const Request& req, void* out, size_t cap) noexcept {
  if (is_large(req)) return encode_large(req, out, cap);
  alignas(8) capnp::word scratch[kRequestScratchWords];
  return encode_into(req, out, cap, scratch, kRequestScratchWords);
}

namespace {
size_t encode_into(const Request& req, void* out, size_t cap, capnp::word* scratch, size_t words) {
  try {
    memset(scratch, 0, words * sizeof(capnp::word));
    capnp::MallocMessageBuilder mb(kj::arrayPtr(scratch, words));
    auto r = mb.initRoot<proto::Request>();
    std::visit(
        [&](const auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, Hello>) {
            auto h = r.initHello();
            h.setProtocol(m.protocol);
            h.setVpid(m.vpid);
            h.setParent(m.parent);
            h.setCkptSignal(m.ckpt_signal);
          } else if constexpr (std::is_same_v<T, Spawned>) {
            auto s = r.initSpawned();
            s.setVpid(m.vpid);
            s.setReal(m.real);
            s.setParent(m.parent);
            s.setThread(m.thread);
          } else if constexpr (std::is_same_v<T, Reaped>) {
            r.setReaped(m.vpid);
          } else if constexpr (std::is_same_v<T, LeaseRequest>) {
            r.setLease(m.count);
          } else if constexpr (std::is_same_v<T, Lookup>) {
            r.setLookup(m.vpid);
          } else if constexpr (std::is_same_v<T, Signal>) {
            auto s = r.initSignal();
            s.setTarget(m.target);
            s.setSigno(m.signo);
            s.setQueued(m.queued);
            s.setValue(m.value);
          } else if constexpr (std::is_same_v<T, ListRequest>) {
            r.setList(m.threads);
          } else if constexpr (std::is_same_v<T, ClusterQuery>) {
            auto c = r.initClusterList();
            c.setThreads(m.threads);
            c.setNode(m.node.s);
            c.setNodesOnly(m.nodes_only);
          } else if constexpr (std::is_same_v<T, LookupReal>) {
            r.setLookupReal(m.real);
          } else if constexpr (std::is_same_v<T, CheckpointRequest>) {
            auto c = r.initCheckpoint();
            c.setVpid(m.vpid);
            c.setPath(m.path.s);
            c.setFlags(m.flags);
          } else if constexpr (std::is_same_v<T, CheckpointJob>) {
            auto c = r.initCheckpointJob();
            c.setVpid(m.vpid);
            c.setRequestId(m.request_id);
          } else if constexpr (std::is_same_v<T, CheckpointResult>) {
            set_result(r.initCheckpointResult(), m);
          } else if constexpr (std::is_same_v<T, Restored>) {
            auto c = r.initRestored();
            c.setVpid(m.vpid);
            c.setParent(m.parent);
            c.setReal(m.real);
            c.setMigration(m.migration);
          } else if constexpr (std::is_same_v<T, MigrateRequest>) {
            auto c = r.initMigrate();
            c.setVpid(m.vpid);
            c.setNode(m.node.s);
            c.setFlags(m.flags);
          } else if constexpr (std::is_same_v<T, MigrateWait>) {
            r.setMigrateWait(m.request_id);
          } else if constexpr (std::is_same_v<T, ShadowHello>) {
            auto c = r.initShadowHello();
            c.setVpid(m.vpid);
            c.setMigration(m.migration);
            c.setTarget(m.target);
          } else if constexpr (std::is_same_v<T, ShadowWait>) {
            r.setShadowWait(m.vpid);
          } else if constexpr (std::is_same_v<T, Resumed>) {
            r.setResumed(m.vpid);
          } else if constexpr (std::is_same_v<T, GuestStatus>) {
            auto c = r.initGuestStatus();
            c.setVpid(m.vpid);
            c.setKind(uint8_t(m.kind));
            c.setStatus(m.status);
          } else if constexpr (std::is_same_v<T, ChildReport>) {
            auto c = r.initChildReport();
            c.setParent(m.parent);
            c.setChild(m.child);
            c.setKind(uint8_t(m.kind));
            c.setStatus(m.status);
          } else if constexpr (std::is_same_v<T, ChildWait>) {
            auto c = r.initChildWait();
            c.setParent(m.parent);
            c.setChild(m.child);
            c.setSeq(m.seq);
          } else if constexpr (std::is_same_v<T, MigrateProgress>) {
            r.setMigrateProgress(m.vpid);
          } else if constexpr (std::is_same_v<T, RingAttach>) {
            r.setRingAttach(uint32_t(m.fd));
          } else if constexpr (std::is_same_v<T, CheckpointPolicy>) {
            auto c = r.initCheckpointPolicy();
            c.setVpid(m.vpid);
            c.setIntervalMs(m.interval_ms);
            c.setKeep(m.keep);
            c.setDir(m.dir.s);
          } else {
            static_assert(std::is_same_v<T, Ping>);
            r.setPing();
          }
        },
        req);
    return finish(mb, out, cap);
  } catch (...) {
    return 0;
  }
}
}  // namespace

size_t encode(const Reply& rep, void* out, size_t cap) noexcept {
  try {
    constexpr size_t kWords = kLargeFrameBytes / sizeof(capnp::word);
    bool large = std::holds_alternative<CheckpointSpec>(rep) || std::holds_alternative<CheckpointDone>(rep) ||
                 std::holds_alternative<MigrateDone>(rep);
    alignas(8) capnp::word scratch[kWords];
    size_t words = large ? kWords : kScratchWords;
    memset(scratch, 0, words * sizeof(capnp::word));
    capnp::MallocMessageBuilder mb(kj::arrayPtr(scratch, words));
    auto r = mb.initRoot<proto::Reply>();
    bool ok = true;
    std::visit(
        [&](const auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, Ok>) {
            r.setOk();
          } else if constexpr (std::is_same_v<T, Error>) {
            auto e = r.initError();
            e.setErrno(m.err);
            e.setMessage(m.message.s);
          } else if constexpr (std::is_same_v<T, HelloOk>) {
            auto h = r.initHello();
            h.setVpid(m.vpid);
            h.getLease().setFirst(m.lease.first);
            h.getLease().setCount(m.lease.count);
            h.setNodeIndex(m.node_index);
            h.setNodeName(m.node_name.s);
            h.setGuest(m.guest);
            h.setParent(m.parent);
          } else if constexpr (std::is_same_v<T, Lease>) {
            auto l = r.initLease();
            l.setFirst(m.first);
            l.setCount(m.count);
          } else if constexpr (std::is_same_v<T, Where>) {
            auto w = r.initLookup();
            w.setReal(m.real);
            w.setState(m.state);
            w.setNodeIndex(m.node_index);
            w.setVpid(m.vpid);
          } else if constexpr (std::is_same_v<T, Pong>) {
            auto p = r.initPong();
            p.setProtocol(m.protocol);
            p.setNodeIndex(m.node_index);
            p.setNodeName(m.node_name.s);
            p.setDaemonPid(m.daemon_pid);
            p.setProcesses(m.processes);
          } else if constexpr (std::is_same_v<T, CheckpointSpec>) {
            auto c = r.initCheckpointSpec();
            c.setPath(m.path.s);
            c.setFlags(m.flags);
          } else if constexpr (std::is_same_v<T, CheckpointDone>) {
            set_result(r.initCheckpointDone(), m.result);
          } else if constexpr (std::is_same_v<T, MigrateDone>) {
            auto c = r.initMigrateDone();
            c.setErrno(m.err);
            c.setMessage(m.message.s);
            c.setFrom(m.from.s);
            c.setTo(m.to.s);
            c.setImageBytes(m.image_bytes);
            c.setFrozenNs(m.frozen_ns);
            c.setTotalNs(m.total_ns);
          } else if constexpr (std::is_same_v<T, Verdict>) {
            auto c = r.initVerdict();
            c.setAction(uint8_t(m.action));
            c.setMigration(m.migration);
            c.setTarget(m.target);
          } else if constexpr (std::is_same_v<T, ShadowEvent>) {
            auto c = r.initShadowEvent();
            c.setKind(uint8_t(m.kind));
            c.setStatus(m.status);
            c.setFdMask(m.fd_mask);
          } else if constexpr (std::is_same_v<T, ChildState>) {
            auto c = r.initChildState();
            c.setSeq(m.seq);
            c.setKind(m.kind);
            c.setStatus(m.status);
          } else if constexpr (std::is_same_v<T, Progress>) {
            auto c = r.initProgress();
            c.setStage(uint8_t(m.stage));
            c.setBytesDone(m.bytes_done);
            c.setBytesTotal(m.bytes_total);
          } else {
            static_assert(std::is_same_v<T, ListFollows>);
            ok = false;  // lists go through encode_list
          }
        },
        rep);
    return ok ? finish(mb, out, cap) : 0;
  } catch (...) {
    return 0;
  }
}

bool decode(const void* buf, size_t len, Request& out) noexcept {
  if (!single_segment(buf, len)) return false;
  try {
    capnp::FlatArrayMessageReader mr(
        kj::arrayPtr(static_cast<const capnp::word*>(buf), len / sizeof(capnp::word)));
    auto r = mr.getRoot<proto::Request>();
    switch (r.which()) {
      case proto::Request::HELLO: {
        auto h = r.getHello();
        out = Hello{h.getProtocol(), h.getVpid(), h.getParent(), h.getCkptSignal()};
        return true;
      }
      case proto::Request::SPAWNED: {
        auto s = r.getSpawned();
        out = Spawned{s.getVpid(), s.getReal(), s.getParent(), s.getThread()};
        return true;
      }
      case proto::Request::REAPED: out = Reaped{r.getReaped()}; return true;
      case proto::Request::LEASE: out = LeaseRequest{r.getLease()}; return true;
      case proto::Request::LOOKUP: out = Lookup{r.getLookup()}; return true;
      case proto::Request::SIGNAL: {
        auto s = r.getSignal();
        out = Signal{s.getTarget(), s.getSigno(), s.getQueued(), s.getValue()};
        return true;
      }
      case proto::Request::LIST: out = ListRequest{r.getList()}; return true;
      case proto::Request::CLUSTER_LIST: {
        auto c = r.getClusterList();
        ClusterQuery m;
        m.threads = c.getThreads();
        m.nodes_only = c.getNodesOnly();
        m.node.set(c.getNode().cStr(), c.getNode().size());
        out = m;
        return true;
      }
      case proto::Request::PING: out = Ping{}; return true;
      case proto::Request::LOOKUP_REAL: out = LookupReal{r.getLookupReal()}; return true;
      case proto::Request::RING_ATTACH: {
        uint32_t fd = r.getRingAttach();
        if (fd > uint32_t(INT32_MAX)) return false;
        out = RingAttach{int32_t(fd)};
        return true;
      }
      case proto::Request::CHECKPOINT: {
        auto c = r.getCheckpoint();
        CheckpointRequest m;
        m.vpid = c.getVpid();
        m.flags = c.getFlags();
        m.path.set(c.getPath().cStr(), c.getPath().size());
        out = m;
        return true;
      }
      case proto::Request::CHECKPOINT_JOB: {
        auto c = r.getCheckpointJob();
        out = CheckpointJob{c.getVpid(), c.getRequestId()};
        return true;
      }
      case proto::Request::CHECKPOINT_RESULT: out = get_result(r.getCheckpointResult()); return true;
      case proto::Request::RESTORED: {
        auto c = r.getRestored();
        out = Restored{c.getVpid(), c.getParent(), c.getReal(), c.getMigration()};
        return true;
      }
      case proto::Request::MIGRATE: {
        auto c = r.getMigrate();
        MigrateRequest m;
        m.vpid = c.getVpid();
        m.flags = c.getFlags();
        m.node.set(c.getNode().cStr(), c.getNode().size());
        out = m;
        return true;
      }
      case proto::Request::MIGRATE_WAIT: out = MigrateWait{r.getMigrateWait()}; return true;
      case proto::Request::SHADOW_HELLO: {
        auto c = r.getShadowHello();
        out = ShadowHello{c.getVpid(), c.getTarget(), c.getMigration()};
        return true;
      }
      case proto::Request::SHADOW_WAIT: out = ShadowWait{r.getShadowWait()}; return true;
      case proto::Request::RESUMED: out = Resumed{r.getResumed()}; return true;
      case proto::Request::GUEST_STATUS: {
        auto c = r.getGuestStatus();
        if (c.getKind() < 1 || c.getKind() > 3) return false;
        out = GuestStatus{c.getVpid(), GuestChange(c.getKind()), c.getStatus()};
        return true;
      }
      case proto::Request::CHILD_REPORT: {
        auto c = r.getChildReport();
        if (c.getKind() < 1 || c.getKind() > 3) return false;
        out = ChildReport{c.getParent(), c.getChild(), GuestChange(c.getKind()), c.getStatus()};
        return true;
      }
      case proto::Request::CHILD_WAIT: {
        auto c = r.getChildWait();
        out = ChildWait{c.getParent(), c.getChild(), c.getSeq()};
        return true;
      }
      case proto::Request::MIGRATE_PROGRESS: out = MigrateProgress{r.getMigrateProgress()}; return true;
      case proto::Request::CHECKPOINT_POLICY: {
        auto c = r.getCheckpointPolicy();
        CheckpointPolicy m;
        m.vpid = c.getVpid();
        m.interval_ms = c.getIntervalMs();
        m.keep = c.getKeep();
        m.dir.set(c.getDir().cStr(), c.getDir().size());
        out = m;
        return true;
      }
    }
    return false;  // a union member this version does not know
  } catch (...) {
    return false;
  }
}

bool decode(const void* buf, size_t len, Reply& out) noexcept {
  if (len >= 8 && !single_segment(buf, len)) {
    // Only a process list may span several segments.
    out = ListFollows{};
    return frame_size(buf, len) == len;
  }
  if (!single_segment(buf, len)) return false;
  try {
    capnp::FlatArrayMessageReader mr(
        kj::arrayPtr(static_cast<const capnp::word*>(buf), len / sizeof(capnp::word)));
    auto r = mr.getRoot<proto::Reply>();
    switch (r.which()) {
      case proto::Reply::OK: out = Ok{}; return true;
      case proto::Reply::ERROR: {
        Error e;
        e.err = r.getError().getErrno();
        auto m = r.getError().getMessage();
        e.message.set(m.cStr(), m.size());
        out = e;
        return true;
      }
      case proto::Reply::HELLO: {
        auto h = r.getHello();
        HelloOk o;
        o.vpid = h.getVpid();
        o.lease = {h.getLease().getFirst(), h.getLease().getCount()};
        o.node_index = h.getNodeIndex();
        o.node_name.set(h.getNodeName().cStr(), h.getNodeName().size());
        o.guest = h.getGuest();
        o.parent = h.getParent();
        out = o;
        return true;
      }
      case proto::Reply::LEASE: out = Lease{r.getLease().getFirst(), r.getLease().getCount()}; return true;
      case proto::Reply::LOOKUP: {
        auto w = r.getLookup();
        out = Where{w.getReal(), w.getState(), w.getNodeIndex(), w.getVpid()};
        return true;
      }
      case proto::Reply::LIST:
      case proto::Reply::CLUSTER_LIST: out = ListFollows{}; return true;
      case proto::Reply::CHECKPOINT_SPEC: {
        auto c = r.getCheckpointSpec();
        CheckpointSpec m;
        m.flags = c.getFlags();
        m.path.set(c.getPath().cStr(), c.getPath().size());
        out = m;
        return true;
      }
      case proto::Reply::CHECKPOINT_DONE: out = CheckpointDone{get_result(r.getCheckpointDone())}; return true;
      case proto::Reply::MIGRATE_DONE: {
        auto c = r.getMigrateDone();
        MigrateDone m;
        m.err = c.getErrno();
        m.message.set(c.getMessage().cStr(), c.getMessage().size());
        m.from.set(c.getFrom().cStr(), c.getFrom().size());
        m.to.set(c.getTo().cStr(), c.getTo().size());
        m.image_bytes = c.getImageBytes();
        m.frozen_ns = c.getFrozenNs();
        m.total_ns = c.getTotalNs();
        out = m;
        return true;
      }
      case proto::Reply::VERDICT: {
        auto c = r.getVerdict();
        if (c.getAction() > 2) return false;
        out = Verdict{VerdictAction(c.getAction()), c.getTarget(), c.getMigration()};
        return true;
      }
      case proto::Reply::SHADOW_EVENT: {
        auto c = r.getShadowEvent();
        if (c.getKind() < 1 || c.getKind() > 4) return false;
        out = ShadowEvent{ShadowEventKind(c.getKind()), c.getStatus(), c.getFdMask()};
        return true;
      }
      case proto::Reply::CHILD_STATE: {
        auto c = r.getChildState();
        if (c.getKind() > 3) return false;
        out = ChildState{c.getSeq(), c.getKind(), c.getStatus()};
        return true;
      }
      case proto::Reply::PROGRESS: {
        auto c = r.getProgress();
        if (c.getStage() > uint8_t(MigrateStage::Committing)) return false;
        out = Progress{MigrateStage(c.getStage()), c.getBytesDone(), c.getBytesTotal()};
        return true;
      }
      case proto::Reply::PONG: {
        auto p = r.getPong();
        Pong o;
        o.protocol = p.getProtocol();
        o.node_index = p.getNodeIndex();
        o.daemon_pid = p.getDaemonPid();
        o.processes = p.getProcesses();
        o.node_name.set(p.getNodeName().cStr(), p.getNodeName().size());
        out = o;
        return true;
      }
    }
    return false;
  } catch (...) {
    return false;
  }
}

namespace {

void set_entry(proto::Entry::Builder o, const ProcessEntry& e) {
  o.setVpid(e.vpid);
  o.setNodeIndex(e.node_index);
  o.setNodeName(e.node_name);
  o.setReal(e.real);
  o.setParent(e.parent);
  o.setState(e.state);
  o.setUid(e.uid);
  o.setStartTimeMs(e.start_time_ms);
  auto argv = o.initArgv(unsigned(e.argv.size()));
  for (unsigned j = 0; j < e.argv.size(); ++j) argv.set(j, e.argv[j]);
  o.setThread(e.thread);
  o.setTgid(e.tgid);
}

ProcessEntry get_entry(proto::Entry::Reader e) {
  ProcessEntry p;
  p.vpid = e.getVpid();
  p.node_index = e.getNodeIndex();
  p.node_name = e.getNodeName();
  p.real = e.getReal();
  p.parent = e.getParent();
  p.state = e.getState();
  p.uid = e.getUid();
  p.start_time_ms = e.getStartTimeMs();
  for (auto a : e.getArgv()) p.argv.emplace_back(a);
  p.thread = e.getThread();
  p.tgid = e.getTgid();
  return p;
}

std::vector<uint64_t> flat_words(capnp::MessageBuilder& mb) {
  auto flat = capnp::messageToFlatArray(mb);
  std::vector<uint64_t> out(flat.size());
  memcpy(out.data(), flat.begin(), flat.size() * sizeof(capnp::word));
  return out;
}

// A list frame's root, with limits that bound the work on a hostile frame.
bool list_frame_ok(const void* buf, size_t len) {
  return len % 8 == 0 && (reinterpret_cast<uintptr_t>(buf) & 7) == 0 && frame_size(buf, len) == len;
}

capnp::ReaderOptions list_reader_options(size_t len) {
  capnp::ReaderOptions opts;
  opts.traversalLimitInWords = len / 8 * 4;
  return opts;
}

}  // namespace

std::vector<uint64_t> encode_list(const std::vector<ProcessEntry>& entries) {
  capnp::MallocMessageBuilder mb;
  auto list = mb.initRoot<proto::Reply>().initList(unsigned(entries.size()));
  for (unsigned i = 0; i < entries.size(); ++i) set_entry(list[i], entries[i]);
  return flat_words(mb);
}

bool decode_list(const void* buf, size_t len, std::vector<ProcessEntry>& out) {
  if (!list_frame_ok(buf, len)) return false;
  try {
    capnp::FlatArrayMessageReader mr(
        kj::arrayPtr(static_cast<const capnp::word*>(buf), len / sizeof(capnp::word)), list_reader_options(len));
    auto r = mr.getRoot<proto::Reply>();
    if (r.which() != proto::Reply::LIST) return false;
    out.clear();
    for (auto e : r.getList()) out.push_back(get_entry(e));
    return true;
  } catch (...) {
    return false;
  }
}

std::vector<uint64_t> encode_cluster_list(const ClusterListing& listing) {
  capnp::MallocMessageBuilder mb;
  auto c = mb.initRoot<proto::Reply>().initClusterList();
  auto list = c.initEntries(unsigned(listing.entries.size()));
  for (unsigned i = 0; i < listing.entries.size(); ++i) set_entry(list[i], listing.entries[i]);
  auto nodes = c.initNodes(unsigned(listing.nodes.size()));
  for (unsigned i = 0; i < listing.nodes.size(); ++i) {
    const NodeState& n = listing.nodes[i];
    auto o = nodes[i];
    o.setIndex(n.index);
    o.setName(n.name);
    o.setAddress(n.address);
    o.setReachable(n.reachable);
    o.setMessage(n.message);
    o.setProcesses(n.processes);
    o.setSelf(n.self);
  }
  return flat_words(mb);
}

bool decode_cluster_list(const void* buf, size_t len, ClusterListing& out) {
  if (!list_frame_ok(buf, len)) return false;
  try {
    capnp::FlatArrayMessageReader mr(
        kj::arrayPtr(static_cast<const capnp::word*>(buf), len / sizeof(capnp::word)), list_reader_options(len));
    auto r = mr.getRoot<proto::Reply>();
    out = ClusterListing{};
    if (r.which() == proto::Reply::LIST) {
      for (auto e : r.getList()) out.entries.push_back(get_entry(e));
      return true;
    }
    if (r.which() != proto::Reply::CLUSTER_LIST) return false;
    auto c = r.getClusterList();
    for (auto e : c.getEntries()) out.entries.push_back(get_entry(e));
    for (auto n : c.getNodes()) {
      NodeState s;
      s.index = n.getIndex();
      s.name = n.getName();
      s.address = n.getAddress();
      s.reachable = n.getReachable();
      s.message = n.getMessage();
      s.processes = n.getProcesses();
      s.self = n.getSelf();
      out.nodes.push_back(std::move(s));
    }
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace vproc::wire
