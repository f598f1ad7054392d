#include "cluster_queries.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "process_list.h"
#include "signal_delivery.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

wire::Reply error_reply(const Status& s) {
  wire::Error e;
  e.err = s.err ? s.err : EIO;
  e.message.set(s.message.c_str());
  return e;
}

// Can a request about `v` go to its home node, with the answer sent later on
// connection `conn`? If not, `reply` says why.
bool forwardable(const Cluster& cluster, VPid v, uint64_t conn, wire::Reply& reply) {
  uint32_t home = home_node_of(v);
  if (home >= cluster.node_count()) {
    reply = error_reply(Status::failure(
        ESRCH, strf("no such vpid %u (its home, node index %u, is not in the cluster)", v.value, home)));
    return false;
  }
  if (!conn) {
    reply = error_reply(Status::failure(ENOSYS, "cannot defer this reply"));
    return false;
  }
  return true;
}

// One cluster-wide list being gathered: answered when the last node has.
struct Gathering {
  uint64_t conn = 0;
  size_t waiting = 0;
  wire::ClusterListing listing;
};

}  // namespace

ClusterQueries::ClusterQueries(Cluster& cluster, ProcessTable& table, const NodeInfo& node, Logger& log,
                               SendReply send_reply, SendFrame send_frame)
    : cluster_(cluster), table_(table), node_(node), log_(log), send_reply_(std::move(send_reply)),
      send_frame_(std::move(send_frame)) {}

// --- for local clients -------------------------------------------------------------

bool ClusterQueries::lookup(VPid v, uint64_t conn, wire::Reply& reply) {
  if (!forwardable(cluster_, v, conn, reply)) return false;
  uint32_t home = home_node_of(v);
  SendReply send = send_reply_;
  cluster_.request(
      home, kRequestTimeout, [&](peer::PeerRequest::Builder b) { b.setLookup(v.value); },
      [send, conn](const Status& s, peer::PeerReply::Reader r) {
        if (s.ok() && r.isWhere()) {
          auto w = r.getWhere();
          send(conn, wire::Where{w.getReal(), w.getState(), w.getNode()});
        } else {
          send(conn, error_reply(s.ok() ? Status::failure(EPROTO, "unexpected reply to a lookup") : s));
        }
      });
  return true;
}

bool ClusterQueries::signal(const Peer& caller, const wire::Signal& m, uint64_t conn, wire::Reply& reply) {
  VPid v{uint32_t(m.target < 0 ? -m.target : m.target)};
  if (m.signo < 0 || m.signo >= NSIG) {
    reply = error_reply(Status::failure(EINVAL, strf("invalid signal %d", m.signo)));
    return false;
  }
  if (!forwardable(cluster_, v, conn, reply)) return false;
  uint32_t home = home_node_of(v);
  ProcUids who = caller_uids(caller);
  SendReply send = send_reply_;
  Logger* log = &log_;
  std::string where = cluster_.name_of(home);
  uint32_t pid = caller.pid.value;
  cluster_.request(
      home, kRequestTimeout,
      [&](peer::PeerRequest::Builder b) {
        auto s = b.initSignal();
        s.setTarget(m.target);
        s.setSigno(m.signo);
        s.setUid(who.real);
        s.setEuid(who.effective);
        s.setQueued(m.queued);
        s.setValue(m.value);
      },
      [send, conn, log, where, pid, m](const Status& s, peer::PeerReply::Reader) {
        if (s.ok())
          log->event("signal %d to %lld from pid %u, delivered by node %s", m.signo, (long long)m.target, pid,
                     where.c_str());
        send(conn, s.ok() ? wire::Reply(wire::Ok{}) : error_reply(s));
      });
  return true;
}

bool ClusterQueries::list(const wire::ClusterQuery& q, uint64_t conn, wire::Reply& reply) {
  std::vector<uint32_t> targets;
  if (q.node.s[0]) {
    int i = cluster_.index_of(q.node.s);
    if (i < 0) {
      std::string names;
      for (uint32_t n = 0; n < cluster_.node_count(); ++n) names += (n ? ", " : "") + cluster_.name_of(n);
      reply = error_reply(Status::failure(EINVAL, strf("no node '%s' in the cluster (its nodes: %s)", q.node.s,
                                                       names.c_str())));
      return false;
    }
    targets.push_back(uint32_t(i));
  } else {
    for (uint32_t n = 0; n < cluster_.node_count(); ++n) targets.push_back(n);
  }
  if (!conn) {
    reply = error_reply(Status::failure(ENOSYS, "cannot defer this reply"));
    return false;
  }
  auto g = std::make_shared<Gathering>();
  g->conn = conn;
  g->waiting = targets.size();
  for (uint32_t n : targets) {
    wire::NodeState st;
    st.index = n;
    st.name = cluster_.name_of(n);
    st.address = cluster_.config().nodes[n].address;
    st.self = n == cluster_.self();
    g->listing.nodes.push_back(std::move(st));
  }
  SendFrame send = send_frame_;
  bool threads = q.threads, nodes_only = q.nodes_only;
  // Every node at once, this one included (through its own handlers).
  for (size_t k = 0; k < targets.size(); ++k) {
    cluster_.request(
        targets[k], kListTimeout,
        [&](peer::PeerRequest::Builder b) {
          if (nodes_only) b.setPing();
          else b.initList().setThreads(threads);
        },
        [g, k, send](const Status& s, peer::PeerReply::Reader r) {
          wire::NodeState& st = g->listing.nodes[k];
          if (!s.ok()) {
            st.message = s.message;
          } else if (r.isPong()) {
            st.reachable = true;
            st.processes = r.getPong().getProcesses();
          } else if (r.isList()) {
            auto frame = r.getList().getFrame();
            // Copied to aligned words: decode_list reads in place.
            std::vector<uint64_t> words((frame.size() + 7) / 8);
            memcpy(words.data(), frame.begin(), frame.size());
            std::vector<wire::ProcessEntry> entries;
            if (frame.size() % 8 == 0 && wire::decode_list(words.data(), frame.size(), entries)) {
              st.reachable = true;
              for (wire::ProcessEntry& e : entries) {
                if (!e.thread) ++st.processes;
                g->listing.entries.push_back(std::move(e));
              }
            } else {
              st.message = "node " + st.name + " (" + st.address + ") sent a malformed process list";
            }
          } else {
            st.message = "node " + st.name + " (" + st.address + ") sent an unexpected reply";
          }
          if (--g->waiting) return;
          std::stable_sort(g->listing.entries.begin(), g->listing.entries.end(),
                           [](const wire::ProcessEntry& a, const wire::ProcessEntry& b) { return a.vpid < b.vpid; });
          send(g->conn, wire::encode_cluster_list(g->listing));
        });
  }
  return true;
}

// --- for other nodes -----------------------------------------------------------------

void ClusterQueries::serve() {
  using K = peer::PeerRequest;
  cluster_.handle(K::LOOKUP, [this](const PeerCall& call, K::Reader r) { answer_lookup(call, r.getLookup()); });
  cluster_.handle(K::SIGNAL, [this](const PeerCall& call, K::Reader r) { answer_signal(call, r.getSignal()); });
  cluster_.handle(K::LIST, [this](const PeerCall& call, K::Reader r) {
    std::vector<uint64_t> frame = wire::encode_list(list_processes(table_, node_, r.getList().getThreads()));
    cluster_.reply(call, [&](peer::PeerReply::Builder b) {
      b.initList().setFrame(
          capnp::Data::Reader(reinterpret_cast<const kj::byte*>(frame.data()), frame.size() * sizeof(uint64_t)));
    });
  });
  cluster_.handle(K::PING, [this](const PeerCall& call, K::Reader) {
    cluster_.reply(call, [&](peer::PeerReply::Builder b) {
      auto p = b.initPong();
      p.setProcesses(uint32_t(table_.live_processes()));
      p.setDaemonPid(node_.daemon_pid);
    });
  });
}

void ClusterQueries::answer_lookup(const PeerCall& call, uint32_t vpid) {
  VPid v{vpid};
  const ProcessRecord* rec = valid_vpid(vpid) ? table_.find(v) : nullptr;
  if (!rec && valid_vpid(vpid) && home_node_of(v) == node_.index && drain_) {
    drain_();  // its registration may be on its way from another client
    rec = table_.find(v);
  }
  if (!rec) {
    cluster_.reply_error(call, Status::failure(ESRCH, strf("no such vpid %u", vpid)));
    return;
  }
  uint32_t real = rec->real.value;
  uint8_t state = uint8_t(rec->state);
  // A process of ours that migrated away runs where its record says.
  uint32_t node = !rec->guest && rec->location >= 0 ? uint32_t(rec->location) : node_.index;
  cluster_.reply(call, [&](peer::PeerReply::Builder b) {
    auto w = b.initWhere();
    w.setReal(real);
    w.setState(state);
    w.setNode(node);
  });
}

void ClusterQueries::answer_signal(const PeerCall& call, peer::SignalRequest::Reader m) {
  int64_t target = m.getTarget();
  int signo = m.getSigno();
  ProcUids who{m.getUid(), m.getEuid(), m.getEuid(), m.getEuid()};
  int64_t v = target < 0 ? -target : target;
  if (valid_vpid(v) && !table_.find(VPid{uint32_t(v)}) && home_node_of(VPid{uint32_t(v)}) == node_.index && drain_)
    drain_();
  Status s = m.getQueued() ? queue_signal_checked(table_, who, target, signo, m.getValue())
                           : deliver_signal(table_, who, target, signo);
  if (s.ok()) {
    log_.event("signal %d to %lld from uid %u on %s", signo, (long long)target, who.real,
               cluster_.label(call.from).c_str());
    cluster_.reply(call, [](peer::PeerReply::Builder b) { b.setOk(); });
  } else {
    cluster_.reply_error(call, s);
  }
}

Status queue_signal_checked(const ProcessTable& table, const ProcUids& caller, int64_t target, int signo,
                            uint64_t value) {
  if (signo < 0 || signo >= NSIG) return Status::failure(EINVAL, strf("invalid signal %d", signo));
  if (!valid_vpid(target)) return Status::failure(EINVAL, strf("%lld is not a process's vpid", (long long)target));
  const ProcessRecord* rec = table.find(VPid{uint32_t(target)});
  if (!rec || !rec->live()) return Status::failure(ESRCH, strf("no such vpid %lld", (long long)target));
  ProcUids t;
  if (!read_proc_uids(rec->real, t)) return Status::failure(ESRCH, strf("no such vpid %lld", (long long)target));
  if (!may_signal(caller, t)) return Status::failure(EPERM, strf("not permitted to signal %lld", (long long)target));
  if (signo == 0) return Status::success();
  return queue_signal(*rec, signo, value);
}

}  // namespace vproc::daemon
