#include "request_dispatch.h"

#include "migration_service.h"

#include <cerrno>
#include <type_traits>
#include <variant>

#include "checkpoint_policy.h"
#include "checkpoint_service.h"
#include "child_relay.h"
#include "cluster_queries.h"
#include "process_list.h"
#include "shadow_service.h"
#include "signal_delivery.h"
#include "spawn_rings.h"
#include "strf.h"

namespace vproc::daemon {

RequestDispatch::RequestDispatch(ProcessTable& table, const NodeInfo& node, Logger& log)
    : table_(table), node_(node), log_(log) {}

wire::Reply RequestDispatch::error_reply(const Status& s) {
  wire::Error e;
  e.err = s.err;
  e.message.set(s.message.c_str());
  return e;
}

void RequestDispatch::drain() {
  if (drain_all_) drain_all_();
}

bool RequestDispatch::apply_ring_record(const Peer& peer, const wire::Request& msg) {
  // The reaped process's last messages (a Spawned for its child, sent before it
  // exited) travel on its own connection; while that is being handled further
  // up, they are not all read yet.
  if (const wire::Reaped* r = std::get_if<wire::Reaped>(&msg))
    if (const ProcessRecord* rec = table_.find(VPid{r->vpid}); rec && !rec->thread && peer_busy_ && peer_busy_(rec->real))
      return false;
  wire::Reply unused;
  std::vector<uint64_t> no_list;
  handle(peer, msg, unused, no_list);
  return true;
}

RequestDispatch::Answer RequestDispatch::checkpoint(const Peer& peer, const wire::CheckpointRequest& m,
                                                    ConnectionId conn, wire::Reply& reply) {
  if (!checkpoints_ || !conn || !reply_later_) {
    reply = error_reply(Status::failure(ENOSYS, "this daemon does not take checkpoint requests"));
    return Answer::Small;
  }
  if (!table_.find(VPid{m.vpid})) drain();  // its creator's Spawned may be on the way
  ReplyLater later = reply_later_;
  Logger* log = &log_;
  uint32_t vpid = m.vpid;
  Status s = checkpoints_->request(peer, m, [later, conn, log, vpid](const wire::Reply& r) {
    if (!later(conn, r)) log->event("checkpoint of vpid %u finished after its requester hung up", vpid);
  });
  if (!s.ok()) {
    log_.event("checkpoint of vpid %u for pid %u refused: %s", m.vpid, peer.pid.value, s.message.c_str());
    reply = error_reply(s);
    return Answer::Small;
  }
  return Answer::Deferred;
}

RequestDispatch::Answer RequestDispatch::handle(const Peer& peer, const wire::Request& req,
                                                wire::Reply& reply, std::vector<uint64_t>& list_frame,
                                                ConnectionId conn) {
  return std::visit(
      [&](const auto& m) -> Answer {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, wire::Hello>) {
          if (m.vpid == 0 && !table_.registered_vpid(peer)) drain();  // its parent's Spawned first
          wire::HelloOk ok;
          Status s = table_.hello(peer, m, ok);
          if (!s.ok()) {
            log_.warning("hello from pid %u refused: %s", peer.pid.value, s.message.c_str());
            reply = error_reply(s);
            return Answer::Small;
          }
          ok.node_index = node_.index;
          ok.node_name.set(node_.name.c_str());
          reply = ok;
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::Spawned>) {
          // From a child whose own registration (its parent's Spawned) is still unread.
          if (!table_.registered_vpid(peer)) drain();
          Status s = table_.spawned(peer, m);
          if (!s.ok()) log_.warning("ignored from pid %u: %s", peer.pid.value, s.message.c_str());
          return Answer::None;
        } else if constexpr (std::is_same_v<T, wire::Reaped>) {
          if (const ProcessRecord* rec = table_.find(VPid{m.vpid}); rec && !rec->thread && drain_peer_)
            drain_peer_(rec->real);
          Status s = table_.reaped(peer, m.vpid);
          if (!s.ok()) log_.warning("ignored from pid %u: %s", peer.pid.value, s.message.c_str());
          return Answer::None;
        } else if constexpr (std::is_same_v<T, wire::LeaseRequest>) {
          wire::Lease l;
          Status s = table_.lease(peer, m.count, l);
          reply = s.ok() ? wire::Reply(l) : error_reply(s);
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::Lookup>) {
          VPid v{m.vpid};
          if (!valid_vpid(m.vpid)) {
            reply = error_reply(Status::failure(EINVAL, strf("%u is not a vpid", m.vpid)));
          } else if (home_node_of(v) != node_.index && !table_.find(v)) {
            // Another node's vpid that does not run here: its home knows.
            if (cluster_) return cluster_->lookup(v, conn, reply) ? Answer::Deferred : Answer::Small;
            reply = error_reply(Status::failure(
                ESRCH, strf("no such vpid %u (it belongs to node %u; this daemon serves node %u only)",
                            m.vpid, home_node_of(v), node_.index)));
          } else {
            const ProcessRecord* rec = table_.find(v);
            if (!rec) {
              drain();  // a registration may be on its way from another client
              rec = table_.find(v);
            }
            if (rec) {
              reply = wire::Where{rec->real.value, uint8_t(rec->state), node_.index};
            } else {
              reply = error_reply(Status::failure(ESRCH, strf("no such vpid %u", m.vpid)));
            }
          }
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::Signal>) {
          int64_t target = m.target < 0 ? -m.target : m.target;
          if (cluster_ && valid_vpid(target) && home_node_of(VPid{uint32_t(target)}) != node_.index &&
              !table_.find(VPid{uint32_t(target)}))
            return cluster_->signal(peer, m, conn, reply) ? Answer::Deferred : Answer::Small;
          if (m.queued) {  // sigqueue of a process that runs here after all
            Status s = queue_signal_checked(table_, caller_uids(peer), m.target, m.signo, m.value);
            reply = s.ok() ? wire::Reply(wire::Ok{}) : error_reply(s);
            return Answer::Small;
          }
          Status s = shadows_ && valid_vpid(m.target) && shadows_->has_shadow(VPid{uint32_t(m.target)})
                         ? shadows_->signal_guest(peer, VPid{uint32_t(m.target)}, m.signo)
                         : deliver_signal(table_, peer, m.target, m.signo);
          if (s.ok()) {
            log_.event("signal %d to %lld from pid %u", m.signo, (long long)m.target, peer.pid.value);
            reply = wire::Ok{};
          } else {
            reply = error_reply(s);
          }
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::LookupReal>) {
          // The reverse direction has the same race as Lookup: the process that
          // learned this pid may have done so before its creator's Spawned got here.
          const ProcessRecord* rec = table_.find_real(RealPid{m.real});
          if (!rec) {
            drain();
            rec = table_.find_real(RealPid{m.real});
          }
          if (rec) {
            reply = wire::Where{rec->real.value, uint8_t(rec->state), node_.index, rec->vpid.value};
          } else {
            reply = error_reply(
                Status::failure(ESRCH, strf("pid %u is not a process under vproc", m.real)));
          }
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::CheckpointRequest>) {
          return checkpoint(peer, m, conn, reply);
        } else if constexpr (std::is_same_v<T, wire::CheckpointJob>) {
          wire::CheckpointSpec spec;
          Status s = checkpoints_ ? checkpoints_->job(peer, m, spec)
                                  : Status::failure(ENOSYS, "this daemon does not take checkpoint requests");
          if (!s.ok()) log_.warning("checkpoint job from pid %u refused: %s", peer.pid.value, s.message.c_str());
          reply = s.ok() ? wire::Reply(spec) : error_reply(s);
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::CheckpointResult>) {
          Status s = checkpoints_ ? checkpoints_->result(peer, m)
                                  : Status::failure(ENOSYS, "this daemon does not take checkpoint requests");
          if (!s.ok()) log_.warning("checkpoint result from pid %u refused: %s", peer.pid.value, s.message.c_str());
          reply = s.ok() ? wire::Reply(wire::Ok{}) : error_reply(s);
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::CheckpointPolicy>) {
          if (!table_.find(VPid{m.vpid})) drain();
          Status s = policies_ ? policies_->set(peer, m)
                               : Status::failure(ENOSYS, "this daemon does not take checkpoint policies");
          reply = s.ok() ? wire::Reply(wire::Ok{}) : error_reply(s);
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::Restored>) {
          Status s = m.migration == 0 ? table_.restored(peer, m)
                     : migrations_    ? migrations_->restored(peer, m)
                                      : Status::failure(ENOSYS, "this daemon does not take migrated processes");
          if (!s.ok()) log_.warning("restored from pid %u refused: %s", peer.pid.value, s.message.c_str());
          reply = s.ok() ? wire::Reply(wire::Ok{}) : error_reply(s);
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::ListRequest>) {
          list_frame = wire::encode_list(list_processes(table_, node_, m.threads));
          return Answer::List;
        } else if constexpr (std::is_same_v<T, wire::ClusterQuery>) {
          if (cluster_) return cluster_->list(m, conn, reply) ? Answer::Deferred : Answer::Small;
          wire::ClusterListing l;  // a single node: its own processes, no node states
          if (!m.nodes_only && (!m.node.s[0] || node_.name == m.node.s))
            l.entries = list_processes(table_, node_, m.threads);
          list_frame = wire::encode_cluster_list(l);
          return Answer::List;
        } else if constexpr (std::is_same_v<T, wire::ShadowHello>) {
          Status s = shadows_ ? shadows_->hello(peer, m)
                              : Status::failure(ENOSYS, "this daemon does not take migration requests");
          if (!s.ok()) log_.warning("shadow hello from pid %u refused: %s", peer.pid.value, s.message.c_str());
          reply = s.ok() ? wire::Reply(wire::Ok{}) : error_reply(s);
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::ShadowWait>) {
          Status s = shadows_ ? shadows_->wait(peer, m, conn)
                              : Status::failure(ENOSYS, "this daemon does not take migration requests");
          if (s.ok()) return Answer::Deferred;
          reply = error_reply(s);
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::MigrateRequest>) {
          if (!migrations_) {
            wire::MigrateDone d;
            d.err = ENOSYS;
            d.message.set("this node is not part of a cluster (start vprocd with --cluster FILE --node NAME)");
            reply = d;
            return Answer::Small;
          }
          return migrations_->request(peer, m, conn, reply) ? Answer::Deferred : Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::MigrateWait>) {
          if (!migrations_) {
            reply = wire::Verdict{};  // no migration here: go on
            return Answer::Small;
          }
          return migrations_->migrate_wait(peer, m, conn, reply) ? Answer::Deferred : Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::Resumed>) {
          if (!migrations_) {
            reply = wire::Ok{};
            return Answer::Small;
          }
          return migrations_->resumed(peer, m, conn, reply) ? Answer::Deferred : Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::ChildReport>) {
          Status s = child_relay_ ? child_relay_->report(peer, m)
                                  : Status::failure(ENOSYS, "this daemon does not relay children's states");
          if (!s.ok()) log_.warning("child report from pid %u refused: %s", peer.pid.value, s.message.c_str());
          reply = s.ok() ? wire::Reply(wire::Ok{}) : error_reply(s);
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::ChildWait>) {
          if (child_relay_ && conn) return child_relay_->wait(peer, m, conn, reply) ? Answer::Deferred : Answer::Small;
          reply = error_reply(Status::failure(ENOSYS, "this daemon does not relay children's states"));
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::MigrateProgress>) {
          if (!migrations_ || !conn) {
            reply = wire::Progress{};  // no cluster: no migration to tell about
            return Answer::Small;
          }
          return migrations_->progress(m, conn, reply) ? Answer::Deferred : Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::RingAttach>) {
          Status s = !rings_ ? Status::failure(ENOSYS, "this daemon does not take spawn rings")
                     : !table_.registered_vpid(peer)
                         ? Status::failure(EPERM, strf("ring attach from pid %u, which is not registered", peer.pid.value))
                         : rings_->attach(peer, m.fd);
          // Not an error for the process: it goes on sending its messages.
          if (!s.ok()) log_.event("spawn ring of pid %u refused: %s", peer.pid.value, s.message.c_str());
          reply = s.ok() ? wire::Reply(wire::Ok{}) : error_reply(s);
          return Answer::Small;
        } else if constexpr (std::is_same_v<T, wire::GuestStatus>) {
          Status s = migrations_ ? migrations_->guest_status(peer, m)
                                 : Status::failure(ENOSYS, "this daemon does not take migration requests");
          reply = s.ok() ? wire::Reply(wire::Ok{}) : error_reply(s);
          return Answer::Small;
        } else {
          static_assert(std::is_same_v<T, wire::Ping>);
          wire::Pong p;
          p.protocol = wire::kProtocolVersion;
          p.node_index = node_.index;
          p.node_name.set(node_.name.c_str());
          p.daemon_pid = node_.daemon_pid;
          p.processes = uint32_t(table_.live_processes());
          reply = p;
          return Answer::Small;
        }
      },
      req);
}

}  // namespace vproc::daemon
