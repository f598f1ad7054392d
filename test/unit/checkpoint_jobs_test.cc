// The daemon's checkpoint bookkeeping without sockets: request ids, lookup,
// expiry, the names of periodic images, and the helpers they rely on.
#include <catch2/catch.hpp>
#include <cerrno>
#include <set>

#include "checkpoint_jobs.h"
#include "checkpoint_policy.h"
#include "credentials.h"
#include "proc_stat.h"
#include "shared_table_writer.h"

using namespace vproc;
using namespace vproc::daemon;

namespace {

PendingCheckpoint job_for(CheckpointJobs& jobs, uint32_t vpid, double at = 0) {
  PendingCheckpoint j;
  j.id = jobs.next_id();
  j.vpid = VPid{vpid};
  j.path = "/tmp/x.vpimg";
  j.signalled_at = at;
  return j;
}

auto always(bool v) {
  return [v](auto&&...) { return v; };
}

}  // namespace

TEST_CASE("checkpoint jobs: ids are 24-bit, non-zero and unique among pending jobs", "[checkpoint]") {
  CheckpointJobs jobs(0xfffffd);  // about to wrap
  std::set<uint32_t> seen;
  for (int i = 0; i < 5; ++i) {
    PendingCheckpoint& j = jobs.add(job_for(jobs, 4194305 + i));
    CHECK(j.id != 0);
    CHECK(j.id <= CheckpointJobs::kIdMask);
    CHECK(seen.insert(j.id).second);
  }
  CHECK(seen.count(0xfffffe));
  CHECK(seen.count(0xffffff));
  CHECK(seen.count(1));  // wrapped past 0
  // A pending id is skipped when the counter comes round again.
  CheckpointJobs small(0);
  uint32_t first = small.add(job_for(small, 4194305)).id;
  CHECK(first == 1);
  for (uint32_t i = 0; i < CheckpointJobs::kIdMask - 1; ++i) small.next_id();
  CHECK(small.next_id() == 2);  // 1 is still pending
}

TEST_CASE("checkpoint jobs: lookup needs the id and the vpid", "[checkpoint]") {
  CheckpointJobs jobs(100);
  uint32_t id = jobs.add(job_for(jobs, 4194305)).id;
  CHECK(jobs.find(id, VPid{4194305}) != nullptr);
  CHECK(jobs.find(id, VPid{4194306}) == nullptr);
  CHECK(jobs.find(id + 1, VPid{4194305}) == nullptr);
  CHECK(jobs.of_vpid(VPid{4194305}) != nullptr);
  CHECK(jobs.of_vpid(VPid{4194306}) == nullptr);
  auto taken = jobs.take(id);
  REQUIRE(taken);
  CHECK(taken->path == "/tmp/x.vpimg");
  CHECK(jobs.empty());
  CHECK_FALSE(jobs.take(id));
}

TEST_CASE("checkpoint jobs: a process that does not answer times out", "[checkpoint]") {
  CheckpointJobs jobs(0);
  CheckpointJobs::Limits limits{10, 1};
  jobs.add(job_for(jobs, 4194305, 100.0));
  CHECK(jobs.expire(109.9, limits, always(true), always(true)).empty());
  auto failed = jobs.expire(110.0, limits, always(true), always(true));
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].err == ETIMEDOUT);
  CHECK(failed[0].why ==
        "the process did not answer the checkpoint signal within 10 s (it may be stopped, in uninterruptible "
        "sleep, or blocking vproc's signal)");
  CHECK(failed[0].job.vpid == VPid{4194305});
  CHECK(jobs.empty());
}

TEST_CASE("checkpoint jobs: a gone process or writer fails after a grace period", "[checkpoint]") {
  CheckpointJobs jobs(0);
  CheckpointJobs::Limits limits{10, 1};
  SECTION("the process exits before answering") {
    jobs.add(job_for(jobs, 4194305, 100.0));
    CHECK(jobs.expire(101, limits, always(false), always(true)).empty());  // first seen gone
    auto failed = jobs.expire(102, limits, always(false), always(true));
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].err == ESRCH);
    CHECK(failed[0].why == "vpid 4194305 exited before it answered the checkpoint signal");
  }
  SECTION("the writer dies without a result; a writer seen alive again resets the grace") {
    PendingCheckpoint& j = jobs.add(job_for(jobs, 4194305, 100.0));
    j.stage = PendingCheckpoint::Stage::Writing;
    j.writer = RealPid{4242};
    // Writing is not bounded by the answer timeout.
    CHECK(jobs.expire(500, limits, always(false), always(true)).empty());
    CHECK(jobs.expire(501, limits, always(true), always(false)).empty());
    CHECK(jobs.expire(501.5, limits, always(true), always(true)).empty());
    CHECK(jobs.expire(502, limits, always(true), always(false)).empty());
    auto failed = jobs.expire(503, limits, always(true), always(false));
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].err == EIO);
    CHECK(failed[0].why.find("the snapshot writer (pid 4242) exited without reporting") == 0);
  }
}

TEST_CASE("checkpoint policy: image names, the next number, and what to remove", "[checkpoint]") {
  CHECK(policy_image_name(4194305, 12) == "vpid-4194305.000012.vpimg");
  CHECK(policy_image_name(4194305, 1234567) == "vpid-4194305.1234567.vpimg");
  CHECK(policy_image_seq("vpid-4194305.000012.vpimg", 4194305) == 12);
  CHECK(policy_image_seq("vpid-4194305.1234567.vpimg", 4194305) == 1234567);
  CHECK(policy_image_seq("vpid-4194305.000012.vpimg", 4194306) == -1);
  CHECK(policy_image_seq("vpid-41943051.000012.vpimg", 4194305) == -1);
  CHECK(policy_image_seq("vpid-4194305.12.vpimg", 4194305) == -1);
  CHECK(policy_image_seq("vpid-4194305.000012.vpimg.tmp-77", 4194305) == -1);
  CHECK(policy_image_seq("vpid-4194305.00001x.vpimg", 4194305) == -1);

  std::vector<std::string> names = {".",
                                    "..",
                                    "vpid-4194305.000003.vpimg",
                                    "vpid-4194305.000010.vpimg",
                                    "vpid-4194305.000001.vpimg",
                                    "vpid-4194306.000001.vpimg",
                                    "vpid-4194305.000011.vpimg.tmp-99",
                                    "notes.txt",
                                    "vpid-4194305.000007.vpimg"};
  CHECK(next_image_seq(names, 4194305) == 11);
  CHECK(next_image_seq(names, 4194306) == 2);
  CHECK(next_image_seq(names, 4194307) == 1);
  CHECK(images_beyond(names, 4194305, 2) ==
        std::vector<std::string>{"vpid-4194305.000001.vpimg", "vpid-4194305.000003.vpimg"});
  CHECK(images_beyond(names, 4194305, 4).empty());
  CHECK(images_beyond(names, 4194306, 1).empty());
}

TEST_CASE("checkpoint: the caught-signals line and who may checkpoint whom", "[checkpoint]") {
  const char status[] = "Name:\tx\nSigBlk:\t0000000000000000\nSigCgt:\t2000000000000002\nCapInh:\t0\n";
  uint64_t caught = 0;
  REQUIRE(parse_sigcgt_line(status, sizeof status - 1, caught));
  CHECK(caught == 0x2000000000000002ull);  // signals 2 and 62
  CHECK_FALSE(parse_sigcgt_line("Name:\tx\n", 8, caught));

  CHECK(may_checkpoint(ProcUids{1000, 0, 1000, 0}, ProcUids{5, 5, 5, 5}));   // root
  CHECK(may_checkpoint(ProcUids{1000, 1000, 1000, 1000}, ProcUids{1000, 1000, 1000, 1000}));
  CHECK(may_checkpoint(ProcUids{1000, 2000, 1000, 2000}, ProcUids{1000, 1000, 1000, 1000}));
  CHECK_FALSE(may_checkpoint(ProcUids{1000, 1000, 1000, 1000}, ProcUids{1000, 0, 1000, 1000}));  // setuid
  CHECK_FALSE(may_checkpoint(ProcUids{1000, 1000, 1000, 1000}, ProcUids{2000, 2000, 2000, 2000}));
}

TEST_CASE("checkpoint: the checkpoint signal is kept in a live record's flags", "[checkpoint]") {
  CHECK(record_ckpt_signal(0) == -1);
  CHECK(record_ckpt_signal(kRecordLeased) == -1);
  CHECK(record_ckpt_signal(ckpt_signal_flags(-1)) == -1);
  CHECK(record_ckpt_signal(ckpt_signal_flags(0)) == 0);
  CHECK(record_ckpt_signal(ckpt_signal_flags(62)) == 62);
  CHECK_FALSE(ckpt_signal_flags(62) & kRecordLeased);
}
