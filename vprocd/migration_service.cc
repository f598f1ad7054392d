#include "migration_service.h"

#include <sys/random.h>

#include "migration_state.h"
#include "shadow_service.h"
#include "strf.h"

namespace vproc::daemon {

Migrations::Migrations(struct ev_loop* loop, ProcessTable& table, CheckpointService& checkpoints, Spool& spool,
                       MigrationPeers& peers, Logger& log, std::string vproc_path, MigrationLimits limits)
    : loop_(loop),
      table_(table),
      checkpoints_(checkpoints),
      spool_(spool),
      peers_(peers),
      log_(log),
      vproc_path_(std::move(vproc_path)),
      limits_(limits) {
  ev_timer_init(&tick_, &Migrations::on_tick, limits_.tick_s, limits_.tick_s);
  tick_.data = this;
  ev_timer_start(loop_, &tick_);
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = uint64_t(ev_time() * 1e6);
  counter_ = seed & 0xffffffffffull;
}

Migrations::~Migrations() { ev_timer_stop(loop_, &tick_); }

// Unique across the cluster: the node index in the top bits.
uint64_t Migrations::new_id() { return (uint64_t(peers_.self() + 1) << 48) | (++counter_ & 0xffffffffffffull); }

Decision Migrations::on_status(uint64_t migration) const {
  if (outgoing_.count(migration)) return Decision::Pending;
  auto d = decided_.find(migration);
  return d == decided_.end() ? Decision::Unknown : d->second;
}

void Migrations::on_tick(struct ev_loop*, ev_timer* w, int) { static_cast<Migrations*>(w->data)->tick(); }

void Migrations::tick() {
  graveyard_.clear();
  in_graveyard_.clear();
  receiver_graveyard_.clear();
  handover_graveyard_.clear();
  double now = ev_now(loop_);
  std::vector<uint64_t> late;
  for (auto& [id, o] : outgoing_)
    if ((o->stage == Outgoing::Stage::AwaitReady || o->stage == Outgoing::Stage::Committing) && now > o->deadline)
      late.push_back(id);
  for (uint64_t id : late) {
    auto it = outgoing_.find(id);
    if (it == outgoing_.end()) continue;
    Outgoing& o = *it->second;
    abort_out(o, Status::failure(ETIMEDOUT, o.stage == Outgoing::Stage::AwaitReady
                                                ? strf("%s: did not restore it in time", peers_.name_of(o.target).c_str())
                                                : std::string("the process did not become its shadow in time")));
  }
  // Paused guests whose Ready got no answer ask again.
  std::vector<uint64_t> ask, give_up;
  for (auto& [id, in] : incoming_) {
    if (in->stage == Incoming::Stage::Paused && in->unknown_since > 0) ask.push_back(id);
    if ((in->stage == Incoming::Stage::Restoring || in->stage == Incoming::Stage::Preparing) && now > in->deadline)
      give_up.push_back(id);
  }
  for (uint64_t id : give_up) fail_in(id, ETIMEDOUT, "the restore took too long");
  for (uint64_t id : ask) {
    Incoming& in = *incoming_.at(id);
    peers_.status(in.offer.source_node, id, [this, id](Status s, Decision d) {
      auto it = incoming_.find(id);
      if (it == incoming_.end()) return;
      Incoming& in = *it->second;
      if (s.ok() && (d == Decision::Commit || d == Decision::Abort)) return decided(id, d);
      if (s.ok() && d == Decision::Pending) {
        in.unknown_since = ev_now(loop_);
        return;
      }
      if (ev_now(loop_) - in.unknown_since > limits_.paused_unknown_s)
        fail_in(id, ETIMEDOUT, "the source does not know the migration any more");
    });
  }
  retry_reports();
  // Old decisions: the source keeps them a while for late questions.
  if (decided_.size() > 4096) decided_.clear();
  if (finished_requests_.size() > 4096) finished_requests_.clear();
}

}  // namespace vproc::daemon
