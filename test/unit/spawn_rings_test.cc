// The spawn ring end to end inside one test process: libvproc's writer makes
// and fills a real sealed memfd, the daemon's SpawnRings opens it through
// /proc/<pid>/fd and applies its records on a real libev loop.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "logger.h"
#include "spawn_ring_writer.h"
#include "spawn_rings.h"

using namespace vproc;
using namespace vproc::daemon;
using vproc::lib::ring_append;
using vproc::lib::ring_create;
using vproc::lib::ring_destroy;
using vproc::lib::ring_for_each_unread;

namespace {

uint32_t vpid_of(const wire::Request& m) {
  if (auto* s = std::get_if<wire::Spawned>(&m)) return s->vpid;
  if (auto* r = std::get_if<wire::Reaped>(&m)) return r->vpid;
  return 0;
}

struct Applied {
  RealPid from;
  wire::Request msg;
};

struct RingsFixture {
  struct ev_loop* loop = ev_loop_new(EVFLAG_AUTO);
  Logger log;
  std::vector<Applied> applied;
  uint32_t refuse_vpid = 0;  // the apply function says "not now" to this one
  std::unique_ptr<SpawnRings> owned = std::make_unique<SpawnRings>(
      loop, log, [this](const Peer& p, const wire::Request& m) {
        if (refuse_vpid && vpid_of(m) == refuse_vpid) return false;
        applied.push_back({p.pid, m});
        return true;
      });
  SpawnRings& rings = *owned;
  RingsFixture() { log.set_level(Logger::Level::Silent); }  // refusals are expected here
  ~RingsFixture() {
    owned.reset();  // it stops its watchers on the loop
    ev_loop_destroy(loop);
  }
  Peer me() const { return Peer{RealPid{uint32_t(getpid())}, uint32_t(getuid()), uint32_t(getgid()), 0}; }
  // A new ring of this test process, attached (the daemon keeps its own descriptor).
  void* attached_ring() {
    int fd = -1;
    void* base = ring_create(&fd);
    REQUIRE(base);
    Status s = rings.attach(me(), fd);
    INFO(s.message);
    REQUIRE(s.ok());
    close(fd);
    return base;
  }
};

RingRecord spawned(uint32_t v, uint32_t real) { return RingRecord{uint32_t(RingKind::Spawned), v, real, 7}; }

}  // namespace

TEST_CASE("spawn ring: records are applied in order, each once, as the process's messages", "[ring]") {
  RingsFixture f;
  void* base = f.attached_ring();
  REQUIRE(ring_append(base, spawned(101, 5001)));
  REQUIRE(ring_append(base, RingRecord{uint32_t(RingKind::SpawnedThread), 102, 5002, 100}));
  REQUIRE(ring_append(base, RingRecord{uint32_t(RingKind::Reaped), 101, 0, 0}));
  f.rings.drain_all();
  REQUIRE(f.applied.size() == 3);
  CHECK(f.applied[0].from.value == uint32_t(getpid()));
  auto* a = std::get_if<wire::Spawned>(&f.applied[0].msg);
  REQUIRE(a);
  CHECK((a->vpid == 101 && a->real == 5001 && a->parent == 7 && !a->thread));
  auto* b = std::get_if<wire::Spawned>(&f.applied[1].msg);
  REQUIRE(b);
  CHECK((b->vpid == 102 && b->thread));
  CHECK(vpid_of(f.applied[2].msg) == 101);
  CHECK(std::holds_alternative<wire::Reaped>(f.applied[2].msg));
  f.rings.drain(RealPid{uint32_t(getpid())});
  CHECK(f.applied.size() == 3);  // nothing twice
  int unread = 0;
  ring_for_each_unread(base, [&](const RingRecord&) { ++unread; });
  CHECK(unread == 0);
  ring_destroy(base);
}

TEST_CASE("spawn ring: a full ring refuses more until the daemon reads it, and wraps", "[ring]") {
  RingsFixture f;
  void* base = f.attached_ring();
  uint32_t written = 0;
  while (ring_append(base, spawned(1000 + written, 1))) ++written;
  CHECK(written == kRingCapacity);
  int unread = 0;
  ring_for_each_unread(base, [&](const RingRecord&) { ++unread; });
  CHECK(unread == int(kRingCapacity));
  f.rings.drain_all();
  CHECK(f.applied.size() == kRingCapacity);
  for (uint32_t i = 0; i < 10; ++i) REQUIRE(ring_append(base, spawned(9000 + i, 1)));
  f.rings.drain_all();
  REQUIRE(f.applied.size() == kRingCapacity + 10);
  for (uint32_t i = 0; i < f.applied.size(); ++i)
    REQUIRE(vpid_of(f.applied[i].msg) == (i < kRingCapacity ? 1000 + i : 9000 + i - kRingCapacity));
  ring_destroy(base);
}

TEST_CASE("spawn ring: what is not a sealed, empty ring is refused", "[ring]") {
  RingsFixture f;
  SECTION("not a descriptor") {
    CHECK(f.rings.attach(f.me(), 1 << 20).err == ENOENT);
    CHECK(f.rings.attach(f.me(), -1).err == EBADF);
  }
  SECTION("a memfd without seals (it could shrink under the daemon's mapping)") {
    int fd = memfd_create("not-sealed", MFD_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, kRingBytes) == 0);
    Status s = f.rings.attach(f.me(), fd);
    CHECK(s.err == EINVAL);
    CHECK_THAT(s.message, Catch::Contains("sealed"));
    close(fd);
  }
  SECTION("a regular file") {
    char path[] = "/tmp/vproc-ring-test-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    unlink(path);
    REQUIRE(ftruncate(fd, kRingBytes) == 0);
    CHECK(f.rings.attach(f.me(), fd).err == EINVAL);
    close(fd);
  }
  SECTION("a ring with records in it already, or a foreign header") {
    int fd = -1;
    void* base = ring_create(&fd);
    REQUIRE(base);
    SECTION("records") { REQUIRE(ring_append(base, spawned(1, 1))); }
    SECTION("magic") { ring_header(base)->magic = 0x1234; }
    SECTION("version") { ring_header(base)->version = kRingVersion + 1; }
    CHECK(f.rings.attach(f.me(), fd).err == EINVAL);
    close(fd);
    ring_destroy(base);
  }
  CHECK(f.rings.size() == 0);
}

TEST_CASE("spawn ring: a ring with nonsense in it is dropped, nothing else happens", "[ring]") {
  RingsFixture f;
  void* base = f.attached_ring();
  SECTION("an unknown record kind") {
    REQUIRE(ring_append(base, spawned(1, 1)));
    REQUIRE(ring_append(base, RingRecord{99, 2, 2, 2}));
    REQUIRE(ring_append(base, spawned(3, 3)));
    f.rings.drain_all();
    CHECK(f.applied.size() == 1);  // the records before it
  }
  SECTION("a tail more than a ring ahead") {
    ring_header(base)->tail.store(kRingCapacity + 5);
    f.rings.drain_all();
    CHECK(f.applied.empty());
  }
  CHECK(f.rings.size() == 0);
  ring_destroy(base);
}

TEST_CASE("spawn ring: a process's last records are read when it ends, and an exec's ring replaces the old", "[ring]") {
  RingsFixture f;
  int up[2], down[2];  // child -> test, test -> child
  REQUIRE(pipe2(up, O_CLOEXEC) == 0);
  REQUIRE(pipe2(down, O_CLOEXEC) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Two rings, as a process that exec'd would make: one record in the first
    // after it is attached, one in the second after that replaced it.
    close(up[0]);
    close(down[1]);
    int fds[2];
    void* bases[2];
    for (int i = 0; i < 2; ++i) bases[i] = ring_create(&fds[i]);
    if (!bases[0] || !bases[1]) _exit(1);
    char c;
    if (write(up[1], fds, sizeof fds) != sizeof fds || read(down[0], &c, 1) != 1) _exit(1);
    ring_append(bases[0], spawned(1, 1));
    if (write(up[1], "1", 1) != 1 || read(down[0], &c, 1) != 1) _exit(1);
    ring_append(bases[1], spawned(2, 2));
    _exit(0);  // also when the test went away (EOF)
  }
  close(up[1]);
  close(down[0]);
  int fds[2];
  char c;
  REQUIRE(read(up[0], fds, sizeof fds) == sizeof fds);
  Peer p{RealPid{uint32_t(child)}, uint32_t(getuid()), uint32_t(getgid()), 0};
  REQUIRE(f.rings.attach(p, fds[0]).ok());
  REQUIRE((write(down[1], "x", 1) == 1 && read(up[0], &c, 1) == 1));
  REQUIRE(f.rings.attach(p, fds[1]).ok());
  REQUIRE(f.applied.size() == 1);  // the first ring was read as it was replaced
  CHECK(vpid_of(f.applied[0].msg) == 1);
  CHECK(f.rings.size() == 1);
  REQUIRE(write(down[1], "x", 1) == 1);
  // The child's end makes its pidfd readable: its ring is read and let go.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (f.rings.size() && std::chrono::steady_clock::now() < deadline) ev_run(f.loop, EVRUN_NOWAIT);
  CHECK(f.rings.size() == 0);
  REQUIRE(f.applied.size() == 2);
  CHECK(vpid_of(f.applied[1].msg) == 2);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  close(up[0]);
  close(down[1]);
}

TEST_CASE("spawn ring: a record the daemon cannot apply yet waits, with those after it", "[ring]") {
  RingsFixture f;
  void* base = f.attached_ring();
  for (uint32_t v : {1u, 2u, 3u}) REQUIRE(ring_append(base, spawned(v, v)));
  f.refuse_vpid = 2;  // e.g. a Reaped whose process's connection is being handled
  f.rings.drain_all();
  REQUIRE(f.applied.size() == 1);
  int unread = 0;
  ring_for_each_unread(base, [&](const RingRecord&) { ++unread; });
  CHECK(unread == 2);  // the writer sees them as not read yet
  f.refuse_vpid = 0;
  f.rings.drain_all();
  REQUIRE(f.applied.size() == 3);
  CHECK((vpid_of(f.applied[1].msg) == 2 && vpid_of(f.applied[2].msg) == 3));
  ring_destroy(base);
}
