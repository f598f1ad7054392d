// vprocd's writer of the shared table, read back through TableView.
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "daemon_test_support.h"
#include "proc_stat.h"
#include "shared_table_writer.h"

using namespace vproc;
using namespace vproc::daemon;

namespace {

using test::TempDir;

uint64_t my_start_ticks() {
  ProcStat st;
  REQUIRE(read_proc_stat(RealPid{uint32_t(getpid())}, st));
  return st.start_ticks;
}

// A pid that named a process a moment ago and names none now.
RealPid dead_pid() {
  pid_t p = fork();
  if (p == 0) _exit(0);
  REQUIRE(p > 0);
  REQUIRE(waitpid(p, nullptr, 0) == p);
  return RealPid{uint32_t(p)};
}

std::unique_ptr<SharedTableWriter> open_table(const std::string& path, AdoptionReport& report,
                                              std::optional<uint32_t> node = std::nullopt) {
  std::unique_ptr<SharedTableWriter> w;
  Status s = SharedTableWriter::open(path, TableIdentity{node, "testnode"}, w, report);
  INFO(s.message);
  REQUIRE(s.ok());
  REQUIRE(w);
  return w;
}

RecordFields process_fields(RealPid real, uint64_t start, uint32_t parent = 1) {
  RecordFields f;
  f.real = real;
  f.state = RecordState::Alive;
  f.parent = parent;
  f.uid = 0;
  f.start_ticks = start;
  return f;
}

}  // namespace

TEST_CASE("table writer: creates a sparse table that readers can map", "[table]") {
  TempDir dir;
  std::string path = dir.file("vprocd.table");
  AdoptionReport rep;
  auto w = open_table(path, rep, 5);
  CHECK(rep.origin == AdoptionReport::Origin::Created);
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK(size_t(st.st_size) == kTableBytes);
  CHECK((st.st_mode & 0777) == 0644);
  CHECK(size_t(st.st_blocks) * 512 < size_t(1) << 20);  // sparse: next to nothing on disk

  const void* base = map_table_readonly(path.c_str());
  REQUIRE(base);
  TableView view(base);
  CHECK(view.node_index() == 5);
  CHECK(view.header().daemon_pid.load() == uint32_t(getpid()));
  CHECK(view.header().generation.load() == 1);
  CHECK(std::string(view.header().node_name) == "testnode");
  CHECK(view.header().serial_cursor.load() == 1);
  w->disown();
  CHECK(view.header().daemon_pid.load() == 0);
  munmap(const_cast<void*>(base), kTableBytes);
}

TEST_CASE("table writer: register, change state, free; TableView sees each step", "[table]") {
  TempDir dir;
  AdoptionReport rep;
  auto w = open_table(dir.file("t.table"), rep);
  TableView view = w->view();
  VPid v = w->vpid_for_serial(42);
  RealPid r{31000};
  RecordFields f = process_fields(r, 777, 4194305);
  f.uid = 1000;
  w->publish(v, f);

  Resolved res = view.resolve(v);
  CHECK(res.real == r);
  CHECK(res.state == RecordState::Alive);
  CHECK_FALSE(res.thread);
  CHECK(view.vpid_of(r) == v);
  const Record& rec = view.record(42);
  CHECK(rec.parent == 4194305);
  CHECK(rec.uid == 1000);
  CHECK(rec.start_ticks == 777);

  w->set_state(v, RecordState::Zombie);
  CHECK(view.resolve(v).state == RecordState::Zombie);
  CHECK(view.vpid_of(r) == v);  // a zombie's pid is still valid for kill/wait

  w->set_state(v, RecordState::Retired);
  CHECK(view.vpid_of(r) == VPid{});                       // not a process any more...
  CHECK(view.vpid_of(r, /*allow_retired=*/true) == v);    // ...but maybe a group leader

  w->release(v);
  CHECK(view.resolve(v).state == RecordState::Free);
  CHECK(view.vpid_of(r, true) == VPid{});
  CHECK(w->r2v(r) == 0);
  CHECK(rec.start_ticks == 0);
}

TEST_CASE("table writer: freeing an old vpid never unmaps a newer process with the same pid", "[table]") {
  TempDir dir;
  AdoptionReport rep;
  auto w = open_table(dir.file("t.table"), rep);
  TableView view = w->view();
  RealPid r{4321};
  VPid old_v = w->vpid_for_serial(10), new_v = w->vpid_for_serial(11);
  w->publish(old_v, process_fields(r, 100));
  w->set_state(old_v, RecordState::Retired);
  // The kernel reused pid 4321 for a new process, registered under a new vpid.
  w->publish(new_v, process_fields(r, 200));
  CHECK(view.vpid_of(r) == new_v);
  // Now the old one is freed (its group is gone): the mapping must survive.
  w->release(old_v);
  CHECK(view.vpid_of(r) == new_v);
  CHECK(w->r2v(r) == new_v.value);
  CHECK(view.resolve(old_v).state == RecordState::Free);
  // A reader never trusts r2v alone: a record naming another pid is ignored.
  w->publish(old_v, process_fields(RealPid{999}, 1));
  CHECK(view.vpid_of(r) == new_v);
}

TEST_CASE("table writer: leased serials are taken but invisible to readers", "[table]") {
  TempDir dir;
  AdoptionReport rep;
  auto w = open_table(dir.file("t.table"), rep);
  VPid holder = w->vpid_for_serial(1), leased = w->vpid_for_serial(2);
  CHECK_FALSE(w->serial_taken(2));
  w->mark_leased(leased, holder);
  CHECK(w->serial_taken(2));
  CHECK(w->view().resolve(leased).state == RecordState::Free);
  w->clear_leased(leased);
  CHECK_FALSE(w->serial_taken(2));
  // Registering a leased serial clears the lease mark.
  w->mark_leased(leased, holder);
  w->publish(leased, process_fields(RealPid{555}, 5));
  CHECK(w->record(leased).flags == 0);
  CHECK(w->serial_taken(2));
}

// Keeps a thread alive for the re-adoption test.
namespace {
std::atomic<pid_t> g_tid{0};
std::atomic<bool> g_stop{false};
void* idle_thread(void*) {
  g_tid = pid_t(syscall(SYS_gettid));
  while (!g_stop) usleep(1000);
  return nullptr;
}
}  // namespace

TEST_CASE("table writer: a restarted daemon keeps live records and frees dead ones", "[table]") {
  TempDir dir;
  std::string path = dir.file("vprocd.table");
  RealPid me{uint32_t(getpid())};
  uint64_t my_start = my_start_ticks();
  RealPid dead = dead_pid();
  pthread_t th;
  REQUIRE(pthread_create(&th, nullptr, idle_thread, nullptr) == 0);
  while (!g_tid) usleep(100);
  RealPid tid{uint32_t(g_tid.load())};
  ProcStat tst;
  REQUIRE(read_task_stat(me, tid, tst));

  VPid v_me, v_dead, v_thread, v_retired, v_lease_ok, v_lease_dead;
  {
    AdoptionReport rep;
    auto w = open_table(path, rep, 2);
    v_me = w->vpid_for_serial(1);
    v_dead = w->vpid_for_serial(2);
    v_thread = w->vpid_for_serial(3);
    v_retired = w->vpid_for_serial(4);
    v_lease_ok = w->vpid_for_serial(5);
    v_lease_dead = w->vpid_for_serial(6);
    w->publish(v_me, process_fields(me, my_start));
    w->publish(v_dead, process_fields(dead, 12345));
    RecordFields tf = process_fields(tid, tst.start_ticks, v_me.value);
    tf.thread = true;
    tf.tgid = v_me.value;
    w->publish(v_thread, tf);
    // A reaped leader whose pid nobody has now: kept (the sweep checks its group).
    RealPid gone = dead_pid();
    RecordFields rf = process_fields(gone, 1);
    rf.state = RecordState::Retired;
    w->publish(v_retired, rf);
    w->mark_leased(v_lease_ok, v_me);
    w->mark_leased(v_lease_dead, v_dead);
    w->serial_cursor().store(7);
    // The daemon dies here without cleaning up (no disown).
  }
  AdoptionReport rep;
  auto w = open_table(path, rep);  // no index given: keeps the table's (2)
  CHECK(rep.origin == AdoptionReport::Origin::Adopted);
  CHECK(w->node_index() == 2);
  TableView view = w->view();
  CHECK(view.header().generation.load() == 2);
  CHECK(view.header().daemon_pid.load() == uint32_t(getpid()));
  CHECK(view.header().serial_cursor.load() == 7);

  CHECK(view.resolve(v_me).state == RecordState::Alive);
  CHECK(view.vpid_of(me) == v_me);
  CHECK(view.resolve(v_thread).state == RecordState::Alive);
  CHECK(view.resolve(v_thread).thread);
  CHECK(view.vpid_of(tid) == v_thread);
  CHECK(view.resolve(v_retired).state == RecordState::Retired);

  CHECK(view.resolve(v_dead).state == RecordState::Free);
  CHECK(w->r2v(dead) == 0);
  CHECK(rep.freed == 1);
  CHECK(rep.kept.size() == 3);

  REQUIRE(rep.leases.size() == 1);
  CHECK(rep.leases[0].first == v_lease_ok);
  CHECK(rep.leases[0].second == v_me);
  CHECK(rep.leases_dropped == 1);
  CHECK(w->serial_taken(serial_of(v_lease_ok)));
  CHECK_FALSE(w->serial_taken(serial_of(v_lease_dead)));

  g_stop = true;
  pthread_join(th, nullptr);
  // The thread is gone now: a third daemon frees it.
  w.reset();
  AdoptionReport rep3;
  auto w3 = open_table(path, rep3);
  CHECK(w3->view().resolve(v_thread).state == RecordState::Free);
  CHECK(w3->view().resolve(v_me).state == RecordState::Alive);
}

TEST_CASE("table writer: an invalid file is replaced, a foreign node index is refused", "[table]") {
  TempDir dir;
  std::string path = dir.file("vprocd.table");

  SECTION("wrong size") {
    int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "junk", 4) == 4);
    close(fd);
    AdoptionReport rep;
    auto w = open_table(path, rep);
    CHECK(rep.origin == AdoptionReport::Origin::Recreated);
    CHECK(rep.recreate_reason.find("size") != std::string::npos);
    CHECK(map_table_readonly(path.c_str()) != nullptr);
  }
  SECTION("wrong magic") {
    int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, off_t(kTableBytes)) == 0);
    REQUIRE(pwrite(fd, "NOTATABLE", 9, 0) == 9);
    close(fd);
    AdoptionReport rep;
    auto w = open_table(path, rep);
    CHECK(rep.origin == AdoptionReport::Origin::Recreated);
    CHECK(rep.recreate_reason.find("magic") != std::string::npos);
  }
  SECTION("another node's table") {
    {
      AdoptionReport rep;
      auto w = open_table(path, rep, 3);
    }
    std::unique_ptr<SharedTableWriter> w;
    AdoptionReport rep;
    Status s = SharedTableWriter::open(path, TableIdentity{7, "x"}, w, rep);
    CHECK(s.err == EINVAL);
    CHECK(s.message.find("node index 3") != std::string::npos);
    CHECK_FALSE(w);
  }
  SECTION("an index out of range") {
    std::unique_ptr<SharedTableWriter> w;
    AdoptionReport rep;
    CHECK(SharedTableWriter::open(path, TableIdentity{511, "x"}, w, rep).err == EINVAL);
  }
  SECTION("a directory in the way") {
    REQUIRE(mkdir(path.c_str(), 0755) == 0);
    std::unique_ptr<SharedTableWriter> w;
    AdoptionReport rep;
    Status s = SharedTableWriter::open(path, TableIdentity{0, "x"}, w, rep);
    CHECK_FALSE(s.ok());
    CHECK_FALSE(w);
  }
}
