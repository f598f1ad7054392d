// Before the checkpoint: the target checks that it has the files the process
// uses (migration_files.h). Until the answer the process runs on untouched;
// a "no" (or no answer) ends the migration there.
#include <cerrno>

#include "ckpt_request.h"
#include "loop_task.h"
#include "migration_service.h"
#include "migration_state.h"
#include "runtime_paths.h"
#include "strf.h"

namespace vproc::daemon {

void Migrations::precheck_out(const MigrateOut& m, RealPid real, std::function<void(const MigrateOutcome&)> respond) {
  uint64_t id = new_id();
  const double requested = ev_time();
  auto files = std::make_shared<FilesInUse>();
  bool mapped_too = !(m.flags & kCkptEmbedFiles);
  char table[4096] = {};
  if (!table_path_for(socket_path_.c_str(), table, sizeof table)) table[0] = 0;
  auto task = std::make_unique<LoopTask>(loop_);
  LoopTask& t = *task;
  prechecks_[id] = {VPid{m.vpid}, std::move(task)};
  t.start([files, real, mapped_too, table = std::string(table)] { *files = files_in_use(real, mapped_too, table); },
          [this, id, m, files, requested, respond = std::move(respond)]() mutable {
            auto fail = [this, m, respond](const Status& s) {
              MigrateOutcome o;
              o.from = peers_.self();
              o.to = m.target;
              o.err = s.err;
              o.message = s.message;
              respond(o);
            };
            peers_.files_check(m.target, *files, [this, id, m, fail, requested, respond](Status s) mutable {
              prechecks_.erase(id);
              if (s.ok()) return checkpoint_out(m, std::move(respond), requested);
              const std::string here = peers_.name_of(peers_.self()), there = peers_.name_of(m.target);
              if (s.err == ENOENT) {
                // The target's list of what it lacks.
                std::string hint = (m.flags & kCkptEmbedFiles)
                                       ? ""
                                       : "(--embed-files takes the mapped files along in the image)\n";
                s.message = strf("%s does not have the files vpid %u uses:\n%s%svpid %u continues on %s, untouched",
                                 there.c_str(), m.vpid, s.message.c_str(), hint.c_str(), m.vpid, here.c_str());
              } else {
                s.message = strf("checking the files on %s: %s; vpid %u continues on %s, untouched", there.c_str(),
                                 s.message.c_str(), m.vpid, here.c_str());
              }
              fail(s);
            });
            // The LoopTask is done; the map entry stays until the answer.
          });
}

void Migrations::node_lost(uint32_t node) {
  std::vector<uint64_t> ids;
  for (const auto& [id, o] : outgoing_)
    if (o->target == node && (o->stage == Outgoing::Stage::Sending || o->stage == Outgoing::Stage::AwaitReady))
      ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = outgoing_.find(id);
    if (it != outgoing_.end())
      abort_out(*it->second, Status::failure(ECONNRESET, strf("lost the connection to %s", peers_.name_of(node).c_str())));
  }
}

void Migrations::on_files_check(FilesInUse files, std::function<void(Status)> respond) {
  uint64_t id = new_id();
  auto task = std::make_unique<LoopTask>(loop_);
  LoopTask& t = *task;
  file_checks_[id] = std::move(task);
  auto problems = std::make_shared<std::string>();
  auto in = std::make_shared<FilesInUse>(std::move(files));
  t.start([in, problems] { *problems = check_files_here(*in); },
          [this, id, problems, respond = std::move(respond)] {
            respond(problems->empty() ? Status::success() : Status::failure(ENOENT, *problems));
            file_checks_.erase(id);  // destroys the finished LoopTask: nothing touches it after this
          });
}

}  // namespace vproc::daemon
