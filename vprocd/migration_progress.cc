// How far a migration is, for `migrate`'s progress display
// (tools/migrate_progress.h). Only the source knows: it checks the files,
// checkpoints, sends the image and then waits for the target's restore and
// the commit. Any other daemon asked forwards the question there, to the node
// its home says the process runs on.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "ckpt_request.h"
#include "migration_service.h"
#include "migration_state.h"
#include "strf.h"

namespace vproc::daemon {
namespace {

// Where a vpid runs, as its home said, is taken as known this long: a
// migration moves the process only at its end, and a node that has no
// migration of it to tell about makes us ask the home again.
constexpr double kNodeKnownS = 30;
constexpr size_t kMaxNodesKnown = 1024;

// The bytes the snapshot writer has written so far: the largest file of the
// migration's spool directory whose name starts with the image's (it writes
// IMAGE.tmp-PID and renames it to IMAGE when complete, libvproc/ckpt_writer.cc).
uint64_t image_written(const std::string& dir, const std::string& image) {
  std::string base = image.substr(image.rfind('/') + 1);
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  uint64_t most = 0;
  while (const dirent* e = readdir(d)) {
    if (strncmp(e->d_name, base.c_str(), base.size()) != 0) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
      most = std::max(most, uint64_t(st.st_size));
  }
  closedir(d);
  return most;
}

// What the image of `pid` will about hold: its anonymous memory (private
// anonymous mappings and the copied-on-write pages of private file mappings),
// resident or swapped; with --embed-files the resident file pages too. The
// kernel sums these over all mappings in /proc/PID/smaps_rollup (in kB).
// 0 if it cannot be read.
uint64_t expected_image_bytes(RealPid pid, bool embed_files) {
  std::string path = strf("/proc/%u/smaps_rollup", pid.value);
  FILE* f = fopen(path.c_str(), "re");
  if (!f) return 0;
  uint64_t rss = 0, anon = 0, swap = 0;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    unsigned long long kb = 0;
    if (sscanf(line, "Rss: %llu kB", &kb) == 1) rss = kb;
    else if (sscanf(line, "Anonymous: %llu kB", &kb) == 1) anon = kb;
    else if (sscanf(line, "Swap: %llu kB", &kb) == 1) swap = kb;
  }
  fclose(f);
  return ((embed_files ? rss : anon) + swap) * 1024;
}

}  // namespace

wire::Progress Migrations::on_progress(VPid v) {
  wire::Progress p;
  for (const auto& [id, check] : prechecks_)
    if (check.first == v) p.stage = wire::MigrateStage::Checking;
  for (auto& [id, out] : outgoing_) {
    if (out->vpid != v) continue;
    Outgoing& o = *out;
    switch (o.stage) {
      case Outgoing::Stage::Checkpointing:
        p.stage = wire::MigrateStage::Checkpointing;
        p.bytes_done = image_written(o.dir, o.image);
        if (!o.expected_bytes)
          if (const ProcessRecord* rec = table_.find(v))
            o.expected_bytes = expected_image_bytes(rec->real, o.flags & kCkptEmbedFiles);
        // An estimate: never less than what is written already.
        p.bytes_total = o.expected_bytes ? std::max(o.expected_bytes, p.bytes_done) : 0;
        break;
      case Outgoing::Stage::Sending:
        p.stage = wire::MigrateStage::Sending;
        p.bytes_done = o.sender ? o.sender->bytes_sent() : 0;
        p.bytes_total = o.sender && o.sender->bytes_total() ? o.sender->bytes_total() : o.image_bytes;
        break;
      case Outgoing::Stage::AwaitReady: p.stage = wire::MigrateStage::Restoring; break;
      case Outgoing::Stage::Committing: p.stage = wire::MigrateStage::Committing; break;
    }
  }
  return p;
}

bool Migrations::progress(const wire::MigrateProgress& m, ConnectionId conn, wire::Reply& now) {
  VPid v{m.vpid};
  wire::Progress here = on_progress(v);
  now = here;
  if (here.stage != wire::MigrateStage::None || !valid_vpid(m.vpid) || !reply_later_ ||
      home_node_of(v) >= peers_.node_count())
    return false;
  // The node's answer comes later, from the loop (Cluster::request never
  // answers inside the call): the reply is deferred.
  auto ask = [this, v, conn](uint32_t node) {
    if (node == peers_.self()) return (void)reply_later_(conn, wire::Progress{});
    peers_.progress(node, v, [this, v, conn](Status s, const wire::Progress& p) {
      // Nothing there (not started yet, over, or moved on): ask its home next time.
      if (!s.ok() || p.stage == wire::MigrateStage::None) progress_nodes_.erase(v.value);
      reply_later_(conn, s.ok() ? p : wire::Progress{});
    });
  };
  if (home_node_of(v) == peers_.self()) {
    uint32_t node = location_of(v);
    if (node == peers_.self()) return false;  // runs here, not being migrated
    ask(node);
    return true;
  }
  auto known = progress_nodes_.find(m.vpid);
  if (known != progress_nodes_.end() && ev_now(loop_) - known->second.second < kNodeKnownS) {
    ask(known->second.first);
    return true;
  }
  peers_.where(v, [this, v, conn, ask](Status s, uint32_t node) {
    if (!s.ok()) return (void)reply_later_(conn, wire::Progress{});
    if (progress_nodes_.size() >= kMaxNodesKnown) progress_nodes_.clear();
    progress_nodes_[v.value] = {node, ev_now(loop_)};
    ask(node);
  });
  return true;
}

}  // namespace vproc::daemon
