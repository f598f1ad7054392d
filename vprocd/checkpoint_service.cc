#include "checkpoint_service.h"

#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ckpt_request.h"
#include "proc_stat.h"
#include "signal_delivery.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

constexpr uint32_t kStopFlag = kCkptStop;
constexpr uint32_t kKnownFlags = kCkptStop | kCkptEmbedFiles;
// The writer appends ".tmp-PID" to the path and reports the path back in a
// wire text of kPathTextBytes.
constexpr size_t kMaxPathBytes = 1000;

uint32_t random_seed() {
  uint32_t seed = 0;
  if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed) seed = uint32_t(getpid()) ^ uint32_t(time(nullptr));
  return seed;
}

bool task_running(RealPid pid, uint64_t start_ticks) {
  ProcStat st;
  return read_proc_stat(pid, st) && st.start_ticks == start_ticks && st.state != 'Z' && st.state != 'X';
}

// The image goes to an absolute path in an existing directory.
}  // namespace

Status check_image_dir(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    int e = errno;
    if (e == ENOENT) return Status::failure(ENOENT, strf("directory %s does not exist", dir.c_str()));
    return Status::failure(e, strf("cannot use directory %s: %s", dir.c_str(), strerror(e)));
  }
  if (!S_ISDIR(st.st_mode)) return Status::failure(ENOTDIR, strf("%s is not a directory", dir.c_str()));
  return Status::success();
}

namespace {

Status check_image_path(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return Status::failure(EINVAL, strf("the image path must be absolute, not '%s'", path.c_str()));
  if (path.size() > kMaxPathBytes)
    return Status::failure(ENAMETOOLONG, strf("the image path is too long (%zu bytes; at most %zu)", path.size(),
                                              kMaxPathBytes));
  if (path.back() == '/') return Status::failure(EISDIR, strf("%s names a directory, not an image file", path.c_str()));
  size_t slash = path.rfind('/');
  std::string dir = slash == 0 ? std::string("/") : path.substr(0, slash);
  if (Status s = check_image_dir(dir); !s.ok()) return s;
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return Status::failure(EISDIR, strf("%s is a directory", path.c_str()));
  return Status::success();
}

// The live process `v` running on this node (one of ours, or a guest).
Status find_target(const ProcessTable& table, VPid v, const ProcessRecord*& rec) {
  if (!valid_vpid(v.value)) return Status::failure(EINVAL, strf("%u is not a vpid", v.value));
  rec = table.find(v);
  if (!rec && home_node_of(v) != table.node_index())
    return Status::failure(ESRCH, strf("no process with vpid %u on this node (its home is node %u)", v.value,
                                       home_node_of(v)));
  if (!rec || !CheckpointService::running(*rec))
    return Status::failure(ESRCH, strf("no process with vpid %u", v.value));
  // Migrated away: the local pid is its shadow, which holds nothing to save.
  if (!rec->guest && rec->location >= 0)
    return Status::failure(ESRCH, strf("vpid %u runs on node %d now; checkpoint it there", v.value, rec->location));
  if (rec->thread)
    return Status::failure(EINVAL, strf("vpid %u is a thread; checkpoint its process, vpid %u", v.value,
                                        rec->tgid.value));
  return Status::success();
}

}  // namespace

CheckpointService::CheckpointService(struct ev_loop* loop, ProcessTable& table, Logger& log, Limits limits)
    : loop_(loop), table_(table), log_(log), limits_(limits), jobs_(random_seed()) {
  ev_timer_init(&tick_, &CheckpointService::on_tick, limits_.tick_s, limits_.tick_s);
  tick_.data = this;
  ev_timer_init(&settle_, &CheckpointService::on_settle, limits_.stop_poll_s, limits_.stop_poll_s);
  settle_.data = this;
}

CheckpointService::~CheckpointService() {
  // The requesters' connections are gone by now: nobody is told.
  ev_timer_stop(loop_, &tick_);
  ev_timer_stop(loop_, &settle_);
  jobs_.clear();
}

int CheckpointService::signal_of(const ProcessRecord& rec) {
  return rec.ckpt_signal < 0 ? kDefaultCkptSignal : rec.ckpt_signal;
}

bool CheckpointService::running(const ProcessRecord& rec) {
  return rec.state == RecordState::Alive && task_running(rec.real, rec.start_ticks);
}

Status CheckpointService::request(const Peer& caller, const wire::CheckpointRequest& req, JobDone done) {
  const ProcessRecord* rec = nullptr;
  Status s = find_target(table_, VPid{req.vpid}, rec);
  if (!s.ok()) return s;
  ProcUids target;
  if (!read_proc_uids(rec->real, target) || !running(*rec))
    return Status::failure(ESRCH, strf("no process with vpid %u", req.vpid));
  if (!may_checkpoint(caller_uids(caller), target))
    return Status::failure(EPERM, strf("not permitted to checkpoint vpid %u (it runs as uid %u)", req.vpid,
                                       target.real));
  if (req.flags & ~kKnownFlags) return Status::failure(EINVAL, strf("unknown checkpoint flags 0x%x", req.flags));
  s = check_image_path(req.path.s);
  if (!s.ok()) return s;
  return launch(*rec, signal_of(*rec), req.path.s, req.flags, std::move(done));
}

Status CheckpointService::start(VPid v, const std::string& path, uint32_t flags, JobDone done) {
  const ProcessRecord* rec = nullptr;
  Status s = find_target(table_, v, rec);
  if (s.ok()) s = check_image_path(path);
  if (!s.ok()) return s;
  return launch(*rec, signal_of(*rec), path, flags, std::move(done));
}

Status CheckpointService::launch(const ProcessRecord& rec, int sig, const std::string& path, uint32_t flags,
                                 JobDone done) {
  if (sig == 0)
    return Status::failure(EOPNOTSUPP,
                           strf("vpid %u has checkpointing disabled (VPROC_CKPT_SIGNAL=0)", rec.vpid.value));
  // A signal nobody handles would kill the process (or vanish): make sure
  // libvproc's handler is there.
  uint64_t caught = 0;
  if (!read_caught_signals(rec.real, caught))
    return Status::failure(ESRCH, strf("no process with vpid %u", rec.vpid.value));
  if (sig < 1 || sig > 64 || !((caught >> (sig - 1)) & 1))
    return Status::failure(EOPNOTSUPP, strf("vpid %u does not handle its checkpoint signal %d (libvproc's "
                                            "checkpoint support is not active in it)",
                                            rec.vpid.value, sig));
  if (const PendingCheckpoint* other = jobs_.of_vpid(rec.vpid))
    return Status::failure(EBUSY, strf("a checkpoint of vpid %u is already in progress (into %s)", rec.vpid.value,
                                       other->path.c_str()));
  PendingCheckpoint job;
  job.id = jobs_.next_id();
  job.vpid = rec.vpid;
  job.path = path;
  job.flags = flags;
  job.done = std::move(done);
  Status s = queue_signal(rec, sig, ckpt_request_value(job.id, flags));
  if (!s.ok()) return s;
  job.signalled_at = ev_now(loop_);
  log_.event("checkpoint request %u: vpid %u (pid %u, signal %d) into %s", job.id, rec.vpid.value,
             rec.real.value, sig, path.c_str());
  jobs_.add(std::move(job));
  if (!ev_is_active(&tick_)) ev_timer_start(loop_, &tick_);
  return Status::success();
}

Status CheckpointService::check_writer(const Peer& writer, const PendingCheckpoint& job) const {
  if (writer.uid == 0) return Status::success();
  const ProcessRecord* rec = table_.find(job.vpid);
  ProcUids t;
  bool same = false;
  if (rec && running(*rec) && read_proc_uids(rec->real, t)) {
    same = writer.uid == t.real || writer.uid == t.effective;
  } else if (rec) {
    same = writer.uid == rec->uid;
  }
  if (!same)
    return Status::failure(EPERM, strf("pid %u (uid %u) may not write the checkpoint of vpid %u", writer.pid.value,
                                       writer.uid, job.vpid.value));
  return Status::success();
}

Status CheckpointService::job(const Peer& writer, const wire::CheckpointJob& m, wire::CheckpointSpec& out) {
  PendingCheckpoint* job = jobs_.find(m.request_id, VPid{m.vpid});
  if (!job)
    return Status::failure(ENOENT, strf("no pending checkpoint request %u for vpid %u", m.request_id, m.vpid));
  Status s = check_writer(writer, *job);
  if (!s.ok()) return s;
  if (job->stage == PendingCheckpoint::Stage::Writing && job->writer != writer.pid)
    return Status::failure(EBUSY, strf("checkpoint request %u is being written by pid %u already", m.request_id,
                                       job->writer.value));
  job->stage = PendingCheckpoint::Stage::Writing;
  job->writer = writer.pid;
  job->writer_start_ticks = writer.start_ticks;
  job->gone_since = 0;
  out = {};
  out.flags = job->flags;
  out.path.set(job->path.c_str());
  log_.event("checkpoint request %u: writer pid %u writes vpid %u", m.request_id, writer.pid.value, m.vpid);
  return Status::success();
}

Status CheckpointService::result(const Peer& writer, const wire::CheckpointResult& m) {
  PendingCheckpoint* job = jobs_.find(m.request_id, VPid{m.vpid});
  if (!job)
    return Status::failure(ENOENT, strf("no pending checkpoint request %u for vpid %u (it may have timed out)",
                                        m.request_id, m.vpid));
  if (job->stage == PendingCheckpoint::Stage::Stopping)
    return Status::failure(EALREADY, strf("checkpoint request %u has reported already", m.request_id));
  if (job->stage == PendingCheckpoint::Stage::Writing && job->writer != writer.pid)
    return Status::failure(EPERM, strf("checkpoint request %u is written by pid %u, not pid %u", m.request_id,
                                       job->writer.value, writer.pid.value));
  // A writer that failed before fetching its job reports straight away.
  Status s = check_writer(writer, *job);
  if (!s.ok()) return s;
  wire::CheckpointResult r = m;
  if (!r.path.s[0]) r.path.set(job->path.c_str());
  if (m.err == 0) {
    log_.event("checkpoint of vpid %u: %s, %llu bytes (%llu of memory data), frozen %llu us, written in %llu ms",
               m.vpid, r.path.s, (unsigned long long)m.image_bytes, (unsigned long long)m.data_bytes,
               (unsigned long long)(m.frozen_ns / 1000), (unsigned long long)(m.write_ns / 1000000));
  } else {
    // One log line per event: the writer's message may list one problem per line.
    std::string why = m.message.s;
    while (!why.empty() && why.back() == '\n') why.pop_back();
    for (size_t at; (at = why.find('\n')) != std::string::npos;) why.replace(at, 1, "; ");
    log_.warning("checkpoint of vpid %u into %s failed: %s (%s)", m.vpid, job->path.c_str(), why.c_str(),
                 strerror(m.err));
  }
  const ProcessRecord* rec = table_.find(job->vpid);
  if (m.err == 0 && (job->flags & kStopFlag) && rec && running(*rec)) {
    // The writer tells the process before it tells us; the process stops
    // itself then. Answer once it has, so that what the requester does next
    // (kill it, restore the image) finds it stopped.
    job->stage = PendingCheckpoint::Stage::Stopping;
    job->stopping_since = ev_now(loop_);
    job->result = r;
    if (!ev_is_active(&settle_)) ev_timer_start(loop_, &settle_);
    return Status::success();
  }
  finish(*job, r);
  return Status::success();
}

void CheckpointService::finish(PendingCheckpoint& job, const wire::CheckpointResult& r) {
  PendingCheckpoint finished = std::move(*jobs_.take(job.id));
  if (jobs_.empty()) ev_timer_stop(loop_, &tick_);
  if (jobs_.ids_at(PendingCheckpoint::Stage::Stopping).empty()) ev_timer_stop(loop_, &settle_);
  wire::CheckpointDone d;
  d.result = r;
  if (finished.done) finished.done(d);
}

void CheckpointService::on_settle(struct ev_loop*, ev_timer* w, int) {
  static_cast<CheckpointService*>(w->data)->settle();
}

void CheckpointService::settle() {
  double now = ev_now(loop_);
  for (uint32_t id : jobs_.ids_at(PendingCheckpoint::Stage::Stopping)) {
    PendingCheckpoint* job = jobs_.get(id);
    const ProcessRecord* rec = table_.find(job->vpid);
    ProcStat st;
    bool stopped = !rec || !running(*rec) || !read_proc_stat(rec->real, st) || st.state == 'T' || st.state == 't';
    if (!stopped && now - job->stopping_since < limits_.stop_wait_s) continue;
    if (!stopped)
      log_.warning("vpid %u has not stopped %g s after its checkpoint; answering anyway", job->vpid.value,
                   limits_.stop_wait_s);
    wire::CheckpointResult r = job->result;
    finish(*job, r);
  }
}

void CheckpointService::on_tick(struct ev_loop*, ev_timer* w, int) { static_cast<CheckpointService*>(w->data)->tick(); }

void CheckpointService::tick() {
  auto failed = jobs_.expire(
      ev_now(loop_), limits_.jobs,
      [this](VPid v) {
        const ProcessRecord* rec = table_.find(v);
        return rec && running(*rec);
      },
      task_running);
  if (jobs_.empty()) ev_timer_stop(loop_, &tick_);
  for (CheckpointJobs::Failed& f : failed) {
    log_.warning("checkpoint request %u (vpid %u into %s) failed: %s", f.job.id, f.job.vpid.value,
                 f.job.path.c_str(), f.why.c_str());
    wire::Error e;
    e.err = f.err;
    e.message.set(f.why.c_str());
    if (f.job.done) f.job.done(e);
  }
}

}  // namespace vproc::daemon
