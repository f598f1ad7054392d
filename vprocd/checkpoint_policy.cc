#include "checkpoint_policy.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "proc_stat.h"
#include "strf.h"

namespace vproc::daemon {

std::string policy_image_name(uint32_t vpid, uint64_t seq) {
  return strf("vpid-%u.%06llu.vpimg", vpid, (unsigned long long)seq);
}

int64_t policy_image_seq(const std::string& name, uint32_t vpid) {
  std::string prefix = strf("vpid-%u.", vpid);
  static const std::string suffix = ".vpimg";
  if (name.size() < prefix.size() + 6 + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return int64_t(std::stoll(digits));
}

std::vector<std::string> images_beyond(const std::vector<std::string>& names, uint32_t vpid, uint32_t keep) {
  std::vector<std::pair<int64_t, std::string>> images;
  for (const std::string& n : names)
    if (int64_t seq = policy_image_seq(n, vpid); seq >= 0) images.emplace_back(seq, n);
  std::sort(images.begin(), images.end());
  std::vector<std::string> out;
  for (size_t i = 0; i + keep < images.size(); ++i) out.push_back(images[i].second);
  return out;
}

uint64_t next_image_seq(const std::vector<std::string>& names, uint32_t vpid) {
  int64_t top = 0;
  for (const std::string& n : names) top = std::max(top, policy_image_seq(n, vpid));
  return uint64_t(top) + 1;
}

namespace {

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (struct dirent* de = readdir(d)) names.emplace_back(de->d_name);
    closedir(d);
  }
  return names;
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

}  // namespace

CheckpointPolicies::CheckpointPolicies(struct ev_loop* loop, ProcessTable& table, CheckpointService& service,
                                       Logger& log)
    : loop_(loop), table_(table), service_(service), log_(log) {}

CheckpointPolicies::~CheckpointPolicies() {
  for (auto& [v, p] : policies_) ev_timer_stop(loop_, &p->timer);
}

Status CheckpointPolicies::set(const Peer& caller, const wire::CheckpointPolicy& m) {
  VPid v{m.vpid};
  if (!valid_vpid(m.vpid)) return Status::failure(EINVAL, strf("%u is not a vpid", m.vpid));
  const ProcessRecord* rec = table_.table().owns(v) ? table_.find(v) : nullptr;
  ProcUids target;
  if (!rec || rec->thread || !CheckpointService::running(*rec) || !read_proc_uids(rec->real, target))
    return Status::failure(ESRCH, strf("no process with vpid %u", m.vpid));
  if (!may_checkpoint(caller_uids(caller), target))
    return Status::failure(EPERM, strf("not permitted to checkpoint vpid %u (it runs as uid %u)", m.vpid,
                                       target.real));
  if (m.interval_ms == 0) {
    if (policies_.count(m.vpid)) log_.event("periodic checkpoints of vpid %u: stopped", m.vpid);
    drop(v);
    return Status::success();
  }
  if (m.keep == 0) return Status::failure(EINVAL, "a checkpoint policy must keep at least one image");
  if (CheckpointService::signal_of(*rec) == 0)
    return Status::failure(EOPNOTSUPP, strf("vpid %u has checkpointing disabled (VPROC_CKPT_SIGNAL=0)", m.vpid));
  std::string dir = m.dir.s;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty() || dir[0] != '/')
    return Status::failure(EINVAL, strf("the checkpoint directory must be absolute, not '%s'", dir.c_str()));
  if (dir.size() > 900) return Status::failure(ENAMETOOLONG, strf("the checkpoint directory is too long"));
  if (Status s = check_image_dir(dir); !s.ok()) return s;

  drop(v);
  auto p = std::make_unique<Policy>();
  p->owner = this;
  p->vpid = v;
  p->real = rec->real;
  p->start_ticks = rec->start_ticks;
  p->dir = dir;
  p->keep = m.keep;
  p->uid = target.real;
  p->next_seq = next_image_seq(list_dir(dir), m.vpid);  // continue a series found there
  double secs = m.interval_ms / 1000.0;
  ev_timer_init(&p->timer, &CheckpointPolicies::on_timer, secs, secs);
  p->timer.data = p.get();
  ev_timer_start(loop_, &p->timer);
  log_.event("periodic checkpoints of vpid %u every %g s into %s (keeping %u), from #%llu", m.vpid, secs,
             dir.c_str(), m.keep, (unsigned long long)p->next_seq);
  policies_[m.vpid] = std::move(p);
  return Status::success();
}

void CheckpointPolicies::on_timer(struct ev_loop*, ev_timer* w, int) {
  auto* p = static_cast<Policy*>(w->data);
  p->owner->fire(*p);
}

void CheckpointPolicies::fire(Policy& p) {
  const ProcessRecord* rec = table_.find(p.vpid);
  if (!rec || rec->real != p.real || rec->start_ticks != p.start_ticks || !CheckpointService::running(*rec)) {
    log_.event("vpid %u is gone: its periodic checkpoints end", p.vpid.value);
    drop(p.vpid);  // destroys p
    return;
  }
  if (service_.busy(p.vpid)) {
    log_.event("periodic checkpoint of vpid %u skipped: a checkpoint of it is still running", p.vpid.value);
    return;
  }
  Outcome where{p.vpid, p.dir, p.keep, p.uid, join(p.dir, policy_image_name(p.vpid.value, p.next_seq))};
  Status s = service_.start(p.vpid, where.path, 0, [this, where](const wire::Reply& r) { finished(where, r); });
  if (!s.ok()) {
    if (s.err == ESRCH) {
      log_.event("vpid %u is gone: its periodic checkpoints end", p.vpid.value);
      drop(p.vpid);
      return;
    }
    note(p.vpid, s.message, where.path);
    return;
  }
  ++p.next_seq;
}

void CheckpointPolicies::finished(const Outcome& o, const wire::Reply& r) {
  std::string why;
  if (auto* d = std::get_if<wire::CheckpointDone>(&r)) {
    if (d->result.err == 0) {
      note(o.vpid, "", o.path);
      prune(o);
      return;
    }
    why = d->result.message.s[0] ? d->result.message.s : strerror(d->result.err);
  } else if (auto* e = std::get_if<wire::Error>(&r)) {
    why = e->message.s;
  } else {
    why = "unexpected outcome";
  }
  note(o.vpid, why, o.path);
}

void CheckpointPolicies::note(VPid v, const std::string& why, const std::string& path) {
  auto it = policies_.find(v.value);
  // Failures are logged when they start or change, not at every interval.
  std::string* last = it == policies_.end() ? nullptr : &it->second->last_error;
  if (why.empty()) {
    if (last && !last->empty()) log_.warning("periodic checkpoints of vpid %u work again (%s)", v.value, path.c_str());
    if (last) last->clear();
    return;
  }
  if (!last || *last != why) log_.warning("periodic checkpoint of vpid %u into %s failed: %s", v.value, path.c_str(),
                                          why.c_str());
  if (last) *last = why;
}

void CheckpointPolicies::prune(const Outcome& o) {
  for (const std::string& name : images_beyond(list_dir(o.dir), o.vpid.value, o.keep)) {
    // Only images this policy can have written: regular files of the process's user.
    std::string path = join(o.dir, name);
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != o.uid) continue;
    if (unlink(path.c_str()) == 0) {
      log_.event("periodic checkpoints of vpid %u: removed %s", o.vpid.value, path.c_str());
    } else {
      log_.warning("periodic checkpoints of vpid %u: cannot remove %s: %s", o.vpid.value, path.c_str(),
                   strerror(errno));
    }
  }
}

void CheckpointPolicies::drop(VPid v) {
  auto it = policies_.find(v.value);
  if (it == policies_.end()) return;
  ev_timer_stop(loop_, &it->second->timer);
  policies_.erase(it);
}

}  // namespace vproc::daemon
