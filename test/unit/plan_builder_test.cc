// The restore plan from synthetic images (ckpt/plan_builder.h) and the checks
// before it (ckpt/restore_checks.h): op order and kinds for lazy and eager
// restores, the hole for the plan, the restorer's range, kernel and CPU
// mismatches, the mapped files.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "elf_build_id.h"
#include "plan_builder.h"
#include "restore_checks.h"

using namespace vproc;
using namespace vproc::restore;
using image::Vma;
using image::VmaKind;

namespace {

constexpr uint64_t P = 4096;
constexpr int kPlanFd = 1000, kImageFd = 1001, kFileFd = 1002;

Vma vma(uint64_t start, uint64_t end, uint32_t prot, VmaKind kind, int32_t file = -1, uint64_t off = 0) {
  return Vma{start, end, prot, kind == VmaKind::SharedFile, kind, file, off, ""};
}

image::Chunk chunk(uint64_t start, uint32_t pages, uint64_t offset) { return image::Chunk{start, pages, offset, 0}; }

// A small program: its binary (text, data), a heap, an anonymous read-only
// area, a reservation, a read-only shared file, the stack, the vdso.
image::Image sample() {
  image::Image img;
  img.files.resize(2);
  img.files[0].path = "/bin/prog";
  img.files[1].path = "/data/table";
  img.vmas = {
      vma(0x400000, 0x402000, PROT_READ | PROT_EXEC, VmaKind::File, 0, 0),
      vma(0x402000, 0x403000, PROT_READ | PROT_WRITE, VmaKind::File, 0, 0x2000),
      vma(0x500000, 0x510000, PROT_READ | PROT_WRITE, VmaKind::Heap),
      vma(0x7f0000000000, 0x7f0000004000, PROT_READ, VmaKind::Anonymous),
      vma(0x7f0000004000, 0x7f0000104000, PROT_NONE, VmaKind::Reserved),
      vma(0x7f0000200000, 0x7f0000201000, PROT_READ, VmaKind::SharedFile, 1, 0),
      vma(0x7ffd00000000, 0x7ffd00021000, PROT_READ | PROT_WRITE, VmaKind::Stack),
  };
  img.chunks = {
      chunk(0x402000, 1, 0x1000),                                      // data
      chunk(0x500000, 2, 0x2000), chunk(0x502000, 1, 0x4000),          // heap: one run
      chunk(0x508000, 1, 0x5000),                                      // heap: second run
      chunk(0x7f0000001000, 1, 0x6000),                                // read-only anon
      chunk(0x7ffd00020000, 1, 0x7000),                                // stack top
  };
  img.kernel.vvar = {0x7ffd10000000, 0x7ffd10004000};
  img.kernel.vvar_vclock = {0x7ffd10004000, 0x7ffd10006000};
  img.kernel.vdso = {0x7ffd10006000, 0x7ffd10008000};
  img.threads.resize(1);
  img.threads[0].fs_base = 0x7f0000000740;
  img.threads[0].resume.rip = 0x401234;
  img.threads[0].resume.rsp = 0x7ffd00020f00;
  img.sigactions.resize(64);
  img.sigactions[1].handler = 0x401500;
  img.process.auxv = std::vector<uint8_t>(16 * 4, 7);
  img.process.mm.brk = 0x510000;
  img.process.generation = 2;
  return img;
}

PlanFds fds_for(const image::Image& img) {
  PlanFds f;
  f.plan = kPlanFd;
  f.image = kImageFd;
  std::vector<bool> need = files_to_open(img);
  for (size_t i = 0; i < need.size(); ++i) f.files.push_back(need[i] ? kFileFd + int(i) : -1);
  return f;
}

std::vector<vproc_plan_op> ops_of(Plan& p) {
  const vproc_plan& h = p.header();
  std::vector<vproc_plan_op> ops(h.op_count);
  std::memcpy(ops.data(), p.bytes.data() + h.ops_offset, ops.size() * sizeof(vproc_plan_op));
  return ops;
}

struct Op {
  uint32_t kind;
  uint64_t addr, len;
  uint32_t prot;
};
std::vector<Op> summary(Plan& p) {
  std::vector<Op> out;
  for (const vproc_plan_op& o : ops_of(p)) out.push_back({o.kind, o.addr, o.len, o.prot});
  return out;
}
bool operator==(const Op& a, const Op& b) {
  return std::tie(a.kind, a.addr, a.len, a.prot) == std::tie(b.kind, b.addr, b.len, b.prot);
}
}  // namespace

namespace Catch {
template <>
struct StringMaker<Op> {
  static std::string convert(const Op& o) {
    char buf[96];
    snprintf(buf, sizeof buf, "{kind %u, %#llx+%#llx, prot %u}", o.kind, (unsigned long long)o.addr,
             (unsigned long long)o.len, o.prot);
    return buf;
  }
};
}  // namespace Catch

TEST_CASE("plan: lazy restore maps chunks from the image, except stack and exec pages") {
  image::Image img = sample();
  Plan p = build_plan(img, {RestoreMode::Lazy, 5, 6}, fds_for(img));
  const int R = PROT_READ, W = PROT_WRITE, X = PROT_EXEC;
  std::vector<Op> want = {
      {VPROC_OP_MAP_FILE, 0x400000, 2 * P, R | X},
      {VPROC_OP_MAP_FILE, 0x402000, P, R | W},
      {VPROC_OP_MAP_IMAGE, 0x402000, P, R | W},
      {VPROC_OP_MAP_ANON, 0x500000, 16 * P, R | W},
      {VPROC_OP_MAP_IMAGE, 0x500000, 3 * P, R | W},  // two chunks, one run
      {VPROC_OP_MAP_IMAGE, 0x508000, P, R | W},
      {VPROC_OP_MAP_ANON, 0x7f0000000000, 4 * P, R},
      {VPROC_OP_MAP_IMAGE, 0x7f0000001000, P, R},
      {VPROC_OP_MAP_ANON, 0x7f0000004000, 256 * P, 0},
      {VPROC_OP_MAP_SHARED_FILE, 0x7f0000200000, P, R},
      {VPROC_OP_MAP_ANON, 0x7ffd00000000, 33 * P, R | W},  // the stack: read in
      {VPROC_OP_READ_IMAGE, 0x7ffd00020000, P, R | W},
  };
  CHECK(summary(p) == want);
  std::vector<vproc_plan_op> ops = ops_of(p);
  CHECK(ops[0].fd == kFileFd);
  CHECK(ops[1].offset == 0x2000);
  CHECK(ops[2].fd == kImageFd);
  CHECK(ops[2].offset == 0x1000);
  CHECK(ops[4].offset == 0x2000);
  CHECK(ops[8].flags == MAP_NORESERVE);
  CHECK(ops[9].fd == kFileFd + 1);
  CHECK(ops[10].flags == MAP_GROWSDOWN);

  CHECK(p.maps_image);
  const vproc_plan& h = p.header();
  CHECK(h.magic == VPROC_PLAN_MAGIC);
  CHECK(h.total_size == p.bytes.size());
  CHECK(h.vdso_addr == 0x7ffd10006000);
  CHECK(h.vvar_vclock_size == 2 * P);
  CHECK(h.mm.brk == 0x510000);
  CHECK(h.sigactions[1].handler == 0x401500);
  CHECK(h.threads[0].resume.rip == 0x401234);
  CHECK(h.threads[0].fs_base == 0x7f0000000740);
  CHECK(h.auxv_size == 64);
  CHECK(p.bytes[h.auxv_offset] == 7);
  CHECK(h.close_fds[0] == kPlanFd);
  CHECK(h.close_fds[1] == kFileFd);  // the image stays open: it is mapped
  CHECK(h.close_fds[2] == kFileFd + 1);
  CHECK(h.close_fds[3] == -1);
  vproc_restore_info& info = p.info();
  CHECK(info.magic == VPROC_RESTORE_INFO_MAGIC);
  CHECK(info.image_fd == kImageFd);
  CHECK(info.flags == VPROC_RESTORE_LAZY);
  CHECK(info.image_dev == 5);
  CHECK(info.image_ino == 6);
  CHECK(info.generation == 3);
}

TEST_CASE("plan: eager restore reads chunks through writable mappings, then protects") {
  image::Image img = sample();
  Plan p = build_plan(img, {RestoreMode::Eager, 0, 0}, fds_for(img));
  std::vector<Op> ops = summary(p);
  const int R = PROT_READ, W = PROT_WRITE;
  for (const Op& o : ops) CHECK(o.kind != VPROC_OP_MAP_IMAGE);
  std::vector<Op> ro = {{VPROC_OP_MAP_ANON, 0x7f0000000000, 4 * P, R | W},
                        {VPROC_OP_READ_IMAGE, 0x7f0000001000, P, R},
                        {VPROC_OP_PROTECT, 0x7f0000000000, 4 * P, R}};
  auto at = std::search(ops.begin(), ops.end(), ro.begin(), ro.end());
  CHECK(at != ops.end());
  CHECK_FALSE(p.maps_image);
  CHECK(p.info().image_fd == -1);
  CHECK(p.info().flags == 0);
  CHECK(p.header().close_fds[1] == kImageFd);  // closed once the pages are read
}

TEST_CASE("plan: descriptors beyond close_fds become CLOSE ops, then SET_CLOEXEC ops") {
  image::Image img = sample();
  img.files.resize(22);
  for (int i = 2; i < 22; ++i) {
    img.files[i].path = "/lib/l" + std::to_string(i);
    img.vmas.push_back(vma(0x7f1000000000 + uint64_t(i) * 0x10000, 0x7f1000001000 + uint64_t(i) * 0x10000,
                           PROT_READ, VmaKind::File, i, 0));
  }
  std::sort(img.vmas.begin(), img.vmas.end(), [](const Vma& a, const Vma& b) { return a.start < b.start; });
  PlanFds fds = fds_for(img);
  fds.cloexec = {4, 7};
  Plan p = build_plan(img, {}, fds);
  // plan fd + 22 files = 23 descriptors: 16 slots, 7 CLOSE ops.
  std::vector<vproc_plan_op> ops = ops_of(p);
  REQUIRE(ops.size() > 9);
  CHECK(ops.back().kind == VPROC_OP_SET_CLOEXEC);
  CHECK(ops.back().fd == 7);
  ops.resize(ops.size() - 2);
  for (int i = 0; i < 16; ++i) CHECK(p.header().close_fds[i] >= 0);
  REQUIRE(ops.size() > 7);
  for (size_t i = ops.size() - 7; i < ops.size(); ++i) {
    CHECK(ops[i].kind == VPROC_OP_CLOSE);
    CHECK(ops[i].fd >= kFileFd);
  }
  CHECK(ops[ops.size() - 8].kind != VPROC_OP_CLOSE);
}

TEST_CASE("plan: too many lazy runs fall back to reading the most fragmented vma") {
  image::Image img = sample();
  img.chunks.erase(img.chunks.begin() + 1, img.chunks.begin() + 4);  // the heap's
  Vma& heap = img.vmas[2];
  heap.end = heap.start + 40000 * P;
  std::vector<image::Chunk> heap_chunks;
  for (uint64_t i = 0; i < 40000; i += 2) heap_chunks.push_back(chunk(heap.start + i * P, 1, 0x100000 + i * P));
  img.chunks.insert(img.chunks.begin() + 1, heap_chunks.begin(), heap_chunks.end());
  Plan p = build_plan(img, {}, fds_for(img));
  size_t lazy = 0, read = 0;
  for (const vproc_plan_op& o : ops_of(p)) {
    if (o.addr < heap.start || o.addr >= heap.end) continue;
    lazy += o.kind == VPROC_OP_MAP_IMAGE;
    read += o.kind == VPROC_OP_READ_IMAGE;
  }
  CHECK(lazy == 0);
  CHECK(read == 20000);
  CHECK(p.maps_image);  // the other vmas' chunks are still mapped lazily
}

TEST_CASE("plan: embedded files are anonymous memory filled from the image") {
  image::Image img = sample();
  img.files[0].embedded = true;
  img.chunks.insert(img.chunks.begin(), chunk(0x400000, 2, 0x10000));
  CHECK(files_to_open(img) == std::vector<bool>{false, true});
  Plan p = build_plan(img, {}, fds_for(img));
  std::vector<Op> ops = summary(p);
  CHECK(ops[0] == Op{VPROC_OP_MAP_ANON, 0x400000, 2 * P, PROT_READ | PROT_WRITE | PROT_EXEC});
  CHECK(ops[1] == Op{VPROC_OP_READ_IMAGE, 0x400000, 2 * P, PROT_READ | PROT_EXEC});
  CHECK(ops[2] == Op{VPROC_OP_PROTECT, 0x400000, 2 * P, PROT_READ | PROT_EXEC});
}

TEST_CASE("plan: pages kept in a PROT_NONE reservation come back, still inaccessible") {
  image::Image img = sample();
  img.chunks.push_back(chunk(0x7f0000005000, 1, 0x9000));
  std::sort(img.chunks.begin(), img.chunks.end(), [](auto& a, auto& b) { return a.start < b.start; });
  Plan lazy = build_plan(img, {}, fds_for(img));
  std::vector<Op> ops = summary(lazy);
  std::vector<Op> want = {{VPROC_OP_MAP_ANON, 0x7f0000004000, 256 * P, 0}, {VPROC_OP_MAP_IMAGE, 0x7f0000005000, P, 0}};
  CHECK(std::search(ops.begin(), ops.end(), want.begin(), want.end()) != ops.end());
  Plan eager = build_plan(img, {RestoreMode::Eager, 0, 0}, fds_for(img));
  ops = summary(eager);
  want = {{VPROC_OP_MAP_ANON, 0x7f0000004000, 256 * P, PROT_WRITE},
          {VPROC_OP_READ_IMAGE, 0x7f0000005000, P, 0},
          {VPROC_OP_PROTECT, 0x7f0000004000, 256 * P, 0}};
  auto at = std::search(ops.begin(), ops.end(), want.begin(), want.end());
  REQUIRE(at != ops.end());
  CHECK(ops_of(eager)[size_t(at - ops.begin())].flags == MAP_NORESERVE);
}

TEST_CASE("plan: what the plan cannot express is refused") {
  image::Image img = sample();
  img.threads.clear();
  CHECK_THROWS_WITH(build_plan(img, {}, fds_for(img)), Catch::Contains("no thread"));
  img = sample();
  img.vmas[5].prot |= PROT_WRITE;
  CHECK_THROWS_WITH(build_plan(img, {}, fds_for(img)), Catch::Contains("read-only shared"));
  img = sample();
  PlanFds none = fds_for(img);
  none.files[0] = -1;
  CHECK_THROWS_WITH(build_plan(img, {}, none), Catch::Contains("/bin/prog was not opened"));
}

TEST_CASE("plan: the hole is the highest free gap, clear of everything") {
  image::Image img = sample();
  uint64_t len = 10 * P;
  uint64_t hole = choose_hole(img, len);
  CHECK(hole % P == 0);
  CHECK(hole + len + P <= 0x7ffffffff000ull);
  CHECK(hole > img.kernel.vdso.end);  // above the highest mapping
  // Fill the top: the next gap down is used.
  img.vmas.push_back(vma(0x7ffd10008000, 0x7ffffffff000ull, PROT_NONE, VmaKind::Reserved));
  hole = choose_hole(img, len);
  CHECK(hole + len + P <= img.kernel.vvar.start);
  CHECK(hole >= 0x7ffd00021000 + P);
  // Never in the restorer's range, even when it is the only room.
  image::Image tight;
  tight.vmas = {vma(0x10000, VPROC_RESTORER_BASE, PROT_NONE, VmaKind::Reserved),
                vma(VPROC_RESTORER_BASE + VPROC_RESTORER_SPAN, 0x7ffffffff000ull, PROT_NONE, VmaKind::Reserved)};
  CHECK_THROWS_WITH(choose_hole(tight, len), Catch::Contains("no free range"));
}

TEST_CASE("checks: memory in the restorer's range is refused") {
  image::Image img = sample();
  CHECK_NOTHROW(check_layout(img));
  img.vmas.push_back(vma(VPROC_RESTORER_BASE + P, VPROC_RESTORER_BASE + 2 * P, PROT_READ, VmaKind::Anonymous));
  CHECK_THROWS_WITH(check_layout(img), Catch::Contains("that vproc-restorer occupies"));
}

TEST_CASE("checks: another kernel's vdso is refused") {
  image::Image img = sample();
  img.kernel.release = "6.18.1";
  img.kernel.vdso_hash = 77;
  HostInfo host;
  host.kernel_release = "6.1.0";
  host.vvar = {0x7fff00000000, 0x7fff00004000};
  host.vvar_vclock = {0x7fff00004000, 0x7fff00006000};
  host.vdso = {0x7fff00006000, 0x7fff00008000};
  host.vdso_hash = 77;
  CHECK_NOTHROW(check_kernel(img, host));
  host.vdso_hash = 78;
  CHECK_THROWS_WITH(check_kernel(img, host),
                    Catch::Contains("taken on kernel 6.18.1 with a different vdso; this kernel is 6.1.0") &&
                        Catch::Contains("restoring across kernels is not supported"));
  host.vdso_hash = 77;
  host.vvar_vclock = {};
  CHECK_THROWS_WITH(check_kernel(img, host), Catch::Contains("[vvar_vclock] is 2 pages in the image, absent here"));
}

TEST_CASE("checks: CPU state the host cannot take is refused") {
  image::Image img = sample();
  img.cpu.xcr0 = 0x602e7;
  img.cpu.xfeatures = 0x202e7;
  img.cpu.xstate_size = 2816;
  HostInfo host;
  host.xcr0 = 0x602e7;
  host.xstate_size = 2816;
  CHECK_NOTHROW(check_cpu(img, host));
  host.xcr0 = 0x7;
  CHECK_THROWS_WITH(check_cpu(img, host), Catch::Contains("components 0x202e0"));
  host.xcr0 = 0x602e7;
  host.xstate_size = 1088;
  CHECK_THROWS_WITH(check_cpu(img, host), Catch::Contains("2816 bytes of XSAVE state, this CPU's 1088"));
}

TEST_CASE("checks: this host passes its own kernel and CPU checks") {
  HostInfo host = probe_host();
  CHECK_FALSE(host.vdso.empty());
  CHECK(host.xstate_size > 0);
  CHECK((host.xfeatures & ~host.xcr0) == 0);
  image::Image img = sample();
  img.kernel.vvar = host.vvar;
  img.kernel.vvar_vclock = host.vvar_vclock;
  img.kernel.vdso = host.vdso;
  img.kernel.vdso_hash = host.vdso_hash;
  img.cpu.xfeatures = host.xfeatures;
  img.cpu.xstate_size = host.xstate_size;
  CHECK_NOTHROW(check_kernel(img, host));
  CHECK_NOTHROW(check_cpu(img, host));
}

TEST_CASE("checks: mapped files must be the checkpointed ones") {
  char path[] = "/tmp/vproc-plan-test-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  const std::string text = "contents of a mapped file";
  REQUIRE(write(fd, text.data(), text.size()) == ssize_t(text.size()));
  close(fd);
  image::Image img;
  img.files.resize(1);
  img.files[0].path = path;
  img.files[0].size = text.size();
  img.files[0].content_hash = XXH3_64bits(text.data(), text.size());  // a copy: other dev/ino
  img.vmas = {vma(0x400000, 0x401000, PROT_READ, VmaKind::File, 0, 0)};
  std::vector<int> fds = open_mapped_files(img);
  REQUIRE(fds.size() == 1);
  CHECK(fds[0] >= 0);
  close(fds[0]);
  img.files[0].content_hash ^= 1;
  img.files[0].build_id = {0xab, 0xcd};
  CHECK_THROWS_WITH(open_mapped_files(img), Catch::Contains(std::string(path) + " differs from the checkpointed one") &&
                                                Catch::Contains("build-id abcd in the image, none here"));
  unlink(path);
  CHECK_THROWS_WITH(open_mapped_files(img), Catch::Contains("cannot open " + std::string(path)));
}

TEST_CASE("checks: build-ids of files on disk") {
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  CHECK(read_elf_build_id(self).size() >= 16);  // gcc's default: a 20-byte SHA-1
  close(self);
  int notelf = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  CHECK(read_elf_build_id(notelf).empty());
  close(notelf);
}
