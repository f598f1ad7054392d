#include "checkpoint_jobs.h"

#include <cerrno>

#include "strf.h"

namespace vproc::daemon {

uint32_t CheckpointJobs::next_id() {
  // At most 2^24 - 1 jobs could be pending; there are never that many.
  for (;;) {
    cursor_ = (cursor_ & kIdMask) == kIdMask ? 1 : cursor_ + 1;
    if (!jobs_.count(cursor_)) return cursor_;
  }
}

PendingCheckpoint& CheckpointJobs::add(PendingCheckpoint job) {
  uint32_t id = job.id;
  return jobs_[id] = std::move(job);
}

PendingCheckpoint* CheckpointJobs::find(uint32_t id, VPid v) {
  auto it = jobs_.find(id);
  return it != jobs_.end() && it->second.vpid == v ? &it->second : nullptr;
}

PendingCheckpoint* CheckpointJobs::get(uint32_t id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

const PendingCheckpoint* CheckpointJobs::of_vpid(VPid v) const {
  for (const auto& [id, job] : jobs_)
    if (job.vpid == v) return &job;
  return nullptr;
}

std::optional<PendingCheckpoint> CheckpointJobs::take(uint32_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  PendingCheckpoint job = std::move(it->second);
  jobs_.erase(it);
  return job;
}

std::vector<uint32_t> CheckpointJobs::ids_at(PendingCheckpoint::Stage stage) const {
  std::vector<uint32_t> out;
  for (const auto& [id, job] : jobs_)
    if (job.stage == stage) out.push_back(id);
  return out;
}

std::vector<CheckpointJobs::Failed> CheckpointJobs::expire(
    double now, const Limits& limits, const std::function<bool(VPid)>& process_running,
    const std::function<bool(RealPid, uint64_t)>& writer_running) {
  std::vector<Failed> out;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    PendingCheckpoint& job = it->second;
    if (job.stage == PendingCheckpoint::Stage::Stopping) {
      ++it;
      continue;
    }
    bool signalled = job.stage == PendingCheckpoint::Stage::Signalled;
    bool alive = signalled ? process_running(job.vpid) : writer_running(job.writer, job.writer_start_ticks);
    if (alive) {
      job.gone_since = 0;
    } else if (job.gone_since == 0) {
      job.gone_since = now;
    }
    bool gone = !alive && now - job.gone_since >= limits.gone_s;
    Failed f;
    if (gone && signalled) {
      f.err = ESRCH;
      f.why = strf("vpid %u exited before it answered the checkpoint signal", job.vpid.value);
    } else if (gone) {
      f.err = EIO;
      f.why = strf("the snapshot writer (pid %u) exited without reporting the outcome; the image may be "
                   "incomplete or missing",
                   job.writer.value);
    } else if (signalled && now - job.signalled_at >= limits.answer_s) {
      f.err = ETIMEDOUT;
      f.why = strf("the process did not answer the checkpoint signal within %g s (it may be stopped, in "
                   "uninterruptible sleep, or blocking vproc's signal)",
                   limits.answer_s);
    } else {
      ++it;
      continue;
    }
    f.job = std::move(job);
    out.push_back(std::move(f));
    it = jobs_.erase(it);
  }
  return out;
}

}  // namespace vproc::daemon
