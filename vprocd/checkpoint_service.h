// Checkpoints on request: `vproc checkpoint` (CheckpointRequest) and the
// daemon's periodic policies start a job; the job's snapshot writer, forked by
// the process's checkpoint handler, fetches it (CheckpointJob) and reports the
// outcome (CheckpointResult).
//
// The daemon asks a process for a checkpoint by queueing its checkpoint signal
// with si_code SI_QUEUE and si_value = ckpt_request_value(id, flags)
// (common/ckpt_request.h). The writer is a fresh process of the target's
// uid, not registered with the daemon: it proves nothing but the request id
// and its uid, so both are checked. A one-second libev timer fails jobs whose
// process does not answer or whose writer dies without a word.
#pragma once

#include <ev.h>

#include <string>

#include "checkpoint_jobs.h"
#include "credentials.h"
#include "logger.h"
#include "process_table.h"
#include "status.h"
#include "wire.h"

namespace vproc::daemon {

struct CheckpointLimits {
  CheckpointJobLimits jobs;
  double tick_s = 1;        // how often pending jobs are checked
  double stop_wait_s = 2;   // --stop: how long to wait for the process to stop
  double stop_poll_s = 0.005;
};

// A directory images may be written to: it exists and is a directory (the
// writer, running as the process's user, finds out about permissions).
Status check_image_dir(const std::string& dir);

class CheckpointService {
 public:
  using Limits = CheckpointLimits;
  CheckpointService(struct ev_loop* loop, ProcessTable& table, Logger& log, Limits limits = {});
  ~CheckpointService();
  CheckpointService(const CheckpointService&) = delete;
  CheckpointService& operator=(const CheckpointService&) = delete;

  // A client asks for a checkpoint of req.vpid into req.path. On success the
  // process was signalled and `done` receives the outcome later (never from
  // inside this call); on failure nothing is pending and `done` is not called.
  // Errors: ESRCH (no such process here), EPERM, EINVAL/ENOENT/ENOTDIR/EISDIR
  // (path), EOPNOTSUPP (checkpointing disabled in it), EBUSY (one is running).
  Status request(const Peer& caller, const wire::CheckpointRequest& req, JobDone done);
  // The same for the daemon's own checkpoints (policies): no caller to check.
  Status start(VPid v, const std::string& path, uint32_t flags, JobDone done);

  // The snapshot writer asks what to write. Errors: ENOENT, EPERM, EBUSY.
  Status job(const Peer& writer, const wire::CheckpointJob& m, wire::CheckpointSpec& out);
  // The snapshot writer reports; the job's requester is told. Errors: ENOENT, EPERM.
  Status result(const Peer& writer, const wire::CheckpointResult& m);

  // A job of this process is pending.
  bool busy(VPid v) const { return jobs_.of_vpid(v) != nullptr; }
  size_t pending() const { return jobs_.size(); }

  // The signal to send to the process of `rec`: what its Hello told, else the
  // library's default; 0 when checkpointing is disabled in it.
  static int signal_of(const ProcessRecord& rec);
  // The process of record `rec` exists and has not exited.
  static bool running(const ProcessRecord& rec);

 private:
  static void on_tick(struct ev_loop* loop, ev_timer* w, int revents);
  void tick();
  static void on_settle(struct ev_loop* loop, ev_timer* w, int revents);
  // --stop: answers the jobs whose process has stopped (or is gone, or took too long).
  void settle();
  void finish(PendingCheckpoint& job, const wire::CheckpointResult& r);
  // Checks shared by request() and start(); `rec` is the live process record.
  Status check_target(VPid v, const ProcessRecord*& rec, int& sig) const;
  Status launch(const ProcessRecord& rec, int sig, const std::string& path, uint32_t flags, JobDone done);
  // The writer runs as the target's user (or root).
  Status check_writer(const Peer& writer, const PendingCheckpoint& job) const;

  struct ev_loop* loop_;
  ProcessTable& table_;
  Logger& log_;
  Limits limits_;
  CheckpointJobs jobs_;
  ev_timer tick_;
  ev_timer settle_;
};

}  // namespace vproc::daemon
