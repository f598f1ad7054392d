// The daemon's pending checkpoint jobs: pure bookkeeping (request ids, lookup,
// which jobs can no longer finish), no sockets, signals or timers, so the unit
// tests drive it directly. CheckpointService does the talking.
//
// A job's life:
//   Signalled  the checkpoint signal was queued to the process, whose handler
//              forks a snapshot writer
//   Writing    the writer fetched the job (CheckpointJob) and writes the image
//   Stopping   (--stop only) the image is complete; the process stops itself
//              next, and the requester is told once it has
//   done       the writer reported (CheckpointResult): the requester is told
// A job fails without a result when the process does not answer the signal in
// time, or when the process (Signalled) or the writer (Writing) is gone.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pid_types.h"
#include "wire.h"

namespace vproc::daemon {

// Where a job's outcome goes: a CheckpointDone or an Error reply.
using JobDone = std::function<void(const wire::Reply&)>;

struct PendingCheckpoint {
  enum class Stage { Signalled, Writing, Stopping };

  uint32_t id = 0;  // 24 bits, non-zero: travels in the signal's si_value
  VPid vpid;
  std::string path;
  uint32_t flags = 0;
  Stage stage = Stage::Signalled;
  double signalled_at = 0;  // seconds, the caller's clock (ev_now)
  RealPid writer;           // the snapshot writer, once it fetched the job
  uint64_t writer_start_ticks = 0;
  double gone_since = 0;    // when the process (or writer) was first seen gone; 0: not
  double stopping_since = 0;
  wire::CheckpointResult result;  // Stopping: what the requester will be told
  JobDone done;
};

struct CheckpointJobLimits {
  double answer_s = 10;  // from the signal to the writer's CheckpointJob
  double gone_s = 1;     // grace after the process or writer is seen gone (its
                         // last message may still be unread)
};

class CheckpointJobs {
 public:
  using Limits = CheckpointJobLimits;
  static constexpr uint32_t kIdMask = 0xffffff;

  // `seed`: where request ids start (random in the daemon, so that a writer of a
  // previous daemon run cannot match a new job by chance).
  explicit CheckpointJobs(uint32_t seed = 0) : cursor_(seed & kIdMask) {}

  // A free id: non-zero, 24 bits, not used by a pending job.
  uint32_t next_id();
  // Adds a job (its id from next_id()).
  PendingCheckpoint& add(PendingCheckpoint job);
  // The job with this id for this vpid, or nullptr.
  PendingCheckpoint* find(uint32_t id, VPid v);
  // The job with this id, or nullptr.
  PendingCheckpoint* get(uint32_t id);
  // A pending job of this process, or nullptr.
  const PendingCheckpoint* of_vpid(VPid v) const;
  // Removes the job and returns it.
  std::optional<PendingCheckpoint> take(uint32_t id);
  // The ids of the jobs at `stage`.
  std::vector<uint32_t> ids_at(PendingCheckpoint::Stage stage) const;
  bool empty() const { return jobs_.empty(); }
  size_t size() const { return jobs_.size(); }

  struct Failed {
    PendingCheckpoint job;
    int err = 0;
    std::string why;
  };
  // The jobs that cannot finish any more at time `now`, removed from the book
  // (Stopping jobs are the caller's). `process_running(v)` and
  // `writer_running(pid, start_ticks)` ask the kernel.
  std::vector<Failed> expire(double now, const Limits& limits, const std::function<bool(VPid)>& process_running,
                             const std::function<bool(RealPid, uint64_t)>& writer_running);

  // Removes every job without telling anyone (daemon shutdown).
  void clear() { jobs_.clear(); }

 private:
  uint32_t cursor_;
  std::map<uint32_t, PendingCheckpoint> jobs_;
};

}  // namespace vproc::daemon
