// Periodic checkpoints (`vproc-run --checkpoint-interval`): every interval the
// daemon checkpoints the process into DIR/vpid-<vpid>.<seq>.vpimg (seq rising,
// six digits) and, once an image is complete, removes the oldest images of
// that vpid in DIR beyond `keep`. A policy belongs to one process (pid and
// start time): it ends when that process is gone. Policies live in the
// daemon's memory only; a restarted daemon has none.
#pragma once

#include <ev.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "checkpoint_service.h"
#include "credentials.h"
#include "logger.h"
#include "process_table.h"
#include "status.h"
#include "wire.h"

namespace vproc::daemon {

// --- image names in a policy's directory (pure) ----------------------------
// "vpid-4194305.000012.vpimg"
std::string policy_image_name(uint32_t vpid, uint64_t seq);
// The sequence number in a periodic image's name of `vpid`, or -1.
int64_t policy_image_seq(const std::string& name, uint32_t vpid);
// Of the file names in a directory: the images of `vpid` to delete so that
// the `keep` newest (highest seq) remain, oldest first.
std::vector<std::string> images_beyond(const std::vector<std::string>& names, uint32_t vpid, uint32_t keep);
// The seq after the highest one among `names` (1 if none).
uint64_t next_image_seq(const std::vector<std::string>& names, uint32_t vpid);

class CheckpointPolicies {
 public:
  CheckpointPolicies(struct ev_loop* loop, ProcessTable& table, CheckpointService& service, Logger& log);
  ~CheckpointPolicies();
  CheckpointPolicies(const CheckpointPolicies&) = delete;
  CheckpointPolicies& operator=(const CheckpointPolicies&) = delete;

  // CheckpointPolicy: sets (or, interval 0, removes) the policy of m.vpid.
  // Errors: ESRCH, EPERM, EINVAL, ENOENT/ENOTDIR (dir), ENAMETOOLONG,
  // EOPNOTSUPP (checkpointing disabled in it).
  Status set(const Peer& caller, const wire::CheckpointPolicy& m);
  size_t size() const { return policies_.size(); }

 private:
  struct Policy {
    ev_timer timer;  // timer.data: this Policy
    CheckpointPolicies* owner = nullptr;
    VPid vpid;
    RealPid real;
    uint64_t start_ticks = 0;
    std::string dir;
    uint32_t keep = 0;
    uint32_t uid = 0;  // the process's real uid: its images are files of that user
    uint64_t next_seq = 1;
    std::string last_error;  // logged once, until the outcome changes
  };
  // What a job's completion needs (its policy may be gone by then).
  struct Outcome {
    VPid vpid;
    std::string dir;
    uint32_t keep = 0;
    uint32_t uid = 0;
    std::string path;
  };

  static void on_timer(struct ev_loop* loop, ev_timer* w, int revents);
  void fire(Policy& p);
  void finished(const Outcome& o, const wire::Reply& r);
  // Logs a failure (`why`) when it starts or changes, and a recovery (`why` empty).
  void note(VPid v, const std::string& why, const std::string& path);
  void prune(const Outcome& o);
  void drop(VPid v);

  struct ev_loop* loop_;
  ProcessTable& table_;
  CheckpointService& service_;
  Logger& log_;
  std::unordered_map<uint32_t, std::unique_ptr<Policy>> policies_;
};

}  // namespace vproc::daemon
