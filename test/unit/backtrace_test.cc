// Unwinding a thread from an image alone: the test checkpoints itself by hand
// (its registers from getcontext, a copy of its stack, its own mapped files
// referenced by path) and unwinds that.
#include "backtrace.h"

#include <sys/stat.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "image_builder.h"

using namespace vproc::image;
using vproc::test::ImageBuilder;

namespace {

struct SelfSnapshot {
  uint64_t stack_end = 0;  // end of [stack]
  uint64_t lo = 0;         // start of the copied part
  std::string stack;       // [lo, stack_end)
  Thread thread;
};

// The current stack's end (we run on the main thread, on [stack]).
uint64_t stack_end() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("[stack]") != std::string::npos) return std::stoull(line.substr(line.find('-') + 1), nullptr, 16);
  return 0;
}

// A plain copy of live stack memory (with ASan, its red zones included).
__attribute__((no_sanitize("address"))) std::string copy_stack(uint64_t lo, uint64_t hi) {
  std::string out(hi - lo, '\0');
  const volatile uint64_t* p = reinterpret_cast<const volatile uint64_t*>(lo);
  for (size_t i = 0; i < out.size() / 8; ++i) {
    uint64_t v = p[i];
    memcpy(&out[i * 8], &v, 8);
  }
  return out;
}

// Records this thread as the checkpoint handler would: registers of the code
// "interrupted" here, the ucontext they came from (on the stack), and the
// stack above it, copied while this frame is still live.
__attribute__((noinline)) void capture_self(SelfSnapshot& s) {
  ucontext_t uc;
  getcontext(&uc);
  s.thread.ip = uint64_t(uc.uc_mcontext.gregs[REG_RIP]);
  s.thread.sp = uint64_t(uc.uc_mcontext.gregs[REG_RSP]);
  s.thread.bp = uint64_t(uc.uc_mcontext.gregs[REG_RBP]);
  s.thread.frame = uint64_t(&uc);
  s.lo = (s.thread.sp & ~uint64_t(kImagePage - 1)) - kImagePage;
  s.stack = copy_stack(s.lo, s.stack_end);
  asm volatile("" ::: "memory");
}

__attribute__((noinline)) void backtrace_test_outer(SelfSnapshot& s) {
  capture_self(s);
  asm volatile("" ::: "memory");  // not a tail call: this frame stays on the stack
}

// An image of this process: every file mapping from /proc/self/maps (the
// files themselves are this host's, so nothing of them is stored) and the
// stack. The object at EMBED (a path) is stored instead, under a path that does
// not exist here, as if migrated with its files embedded.
ImageBuilder self_image(const SelfSnapshot& s, const std::string& embed = "") {
  ImageBuilder b;
  b.model = ImageBuilder::sample().model;
  Image& m = b.model;
  m.vmas.clear();
  m.files.clear();
  m.fds.clear();
  m.chunks.clear();
  m.blobs.clear();
  m.threads = {s.thread};
  std::map<std::string, int32_t> index;
  std::map<uint64_t, std::string> stored;  // address -> contents, in address order
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, path;
    in >> range >> perms >> offset >> dev >> inode;
    std::getline(in >> std::ws, path);
    if (path.empty() || path[0] != '/' || path.find(" (deleted)") != std::string::npos) continue;
    struct stat st;
    if (stat(path.c_str(), &st) != 0) continue;
    auto [it, added] = index.emplace(path, int32_t(m.files.size()));
    const bool embedded = path == embed;
    if (added)
      m.files.push_back(MappedFile{embedded ? "/nonexistent" + path : path, uint64_t(st.st_dev), uint64_t(st.st_ino),
                                   uint64_t(st.st_size), int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                                   {}, 0, embedded});
    Vma v;
    v.start = std::stoull(range, nullptr, 16);
    v.end = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
    v.prot = (perms[0] == 'r' ? 1 : 0) | (perms[1] == 'w' ? 2 : 0) | (perms[2] == 'x' ? 4 : 0);
    v.shared = perms[3] == 's';
    v.kind = v.shared ? VmaKind::SharedFile : VmaKind::File;
    v.file = it->second;
    v.file_offset = std::stoull(offset, nullptr, 16);
    v.name = path;
    m.vmas.push_back(v);
    if (embedded && perms[0] == 'r')
      stored.emplace(v.start, std::string(reinterpret_cast<const char*>(v.start), v.end - v.start));
  }
  m.vmas.push_back(Vma{s.lo, s.stack_end, 3, false, VmaKind::Stack, -1, 0, "[stack]"});
  std::sort(m.vmas.begin(), m.vmas.end(), [](const Vma& a, const Vma& b) { return a.start < b.start; });
  stored.emplace(s.lo, s.stack);
  const uint64_t max_chunk = uint64_t(kMaxChunkPages) * kImagePage;
  for (const auto& [start, data] : stored)
    for (uint64_t off = 0; off < data.size(); off += max_chunk) b.add_chunk(start + off, data.substr(off, max_chunk));
  return b;
}

struct TempFile {
  std::string path;
  TempFile() {
    std::string tmpl = (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") + std::string("/vproc-bt-test-XXXXXX");
    int fd = mkstemp(tmpl.data());
    REQUIRE(fd >= 0);
    close(fd);
    path = tmpl;
  }
  ~TempFile() { unlink(path.c_str()); }
};

bool has_symbol(const std::vector<Frame>& frames, const std::string& part) {
  for (const Frame& f : frames)
    if (f.symbol.find(part) != std::string::npos) return true;
  return false;
}

std::string describe(const std::vector<Frame>& frames) {
  std::string out;
  for (size_t i = 0; i < frames.size(); ++i) out += format_frame(i, frames[i]) + "\n";
  return out;
}

}  // namespace

TEST_CASE("backtrace: unwinds the test's own stack from an image of itself") {
  SelfSnapshot s;
  s.stack_end = stack_end();
  REQUIRE(s.stack_end != 0);
  backtrace_test_outer(s);
  TempFile tmp;
  self_image(s).write(tmp.path);
  ImageFile img = ImageFile::open(tmp.path);
  std::vector<Frame> frames = backtrace(img, img.image().threads[0]);
  INFO(describe(frames));
  REQUIRE(frames.size() >= 3);
  CHECK(frames[0].ip == s.thread.ip);
  CHECK_THAT(frames[0].symbol, Catch::Contains("capture_self"));
  CHECK_THAT(frames[1].symbol, Catch::Contains("backtrace_test_outer"));
  CHECK(has_symbol(frames, "main"));
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  REQUIRE(n > 0);
  CHECK(frames[0].file == std::string(exe, size_t(n)));
  CHECK(frames.size() <= 64);
  CHECK(backtrace(img, img.image().threads[0], 2).size() == 2);
}

TEST_CASE("backtrace: without the ucontext, ip/sp/bp are enough to start") {
  SelfSnapshot s;
  s.stack_end = stack_end();
  backtrace_test_outer(s);
  s.thread.frame = 0;
  TempFile tmp;
  self_image(s).write(tmp.path);
  ImageFile img = ImageFile::open(tmp.path);
  std::vector<Frame> frames = backtrace(img, img.image().threads[0]);
  INFO(describe(frames));
  REQUIRE(!frames.empty());
  CHECK_THAT(frames[0].symbol, Catch::Contains("capture_self"));
}

TEST_CASE("backtrace: garbage registers and stacks end the walk, never crash") {
  SelfSnapshot s;
  s.stack_end = stack_end();
  backtrace_test_outer(s);
  TempFile tmp;
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 300; ++iter) {
    SelfSnapshot bad = s;
    switch (iter % 3) {
      case 0:  // random registers
        bad.thread.ip = rng() % 3 ? rng() : s.thread.ip + rng() % 4096;
        bad.thread.sp = rng() % 2 ? rng() : s.thread.sp + (rng() % 512) * 8;
        bad.thread.bp = rng();
        break;
      case 1:  // random words on the stack
        for (int k = 0; k < 64; ++k) {
          uint64_t at = (s.thread.sp - s.lo + (rng() % 2048) * 8) % (bad.stack.size() - 8), v = rng();
          memcpy(&bad.stack[at], &v, 8);
        }
        break;
      case 2:  // return addresses into the middle of code, stack pointers in circles
        for (int k = 0; k < 64; ++k) {
          uint64_t at = (s.thread.sp - s.lo + (rng() % 2048) * 8) % (bad.stack.size() - 8);
          uint64_t v = rng() % 2 ? s.thread.ip + rng() % 256 : s.thread.sp + (rng() % 64) * 8;
          memcpy(&bad.stack[at], &v, 8);
        }
        break;
    }
    self_image(bad).write(tmp.path);
    ImageFile img = ImageFile::open(tmp.path);
    std::vector<Frame> frames = backtrace(img, img.image().threads[0]);
    CHECK(!frames.empty());
    CHECK(frames.size() <= 64);
  }
}

TEST_CASE("backtrace: names code of an embedded object from its dynamic symbols") {
  SelfSnapshot s;
  s.stack_end = stack_end();
  backtrace_test_outer(s);
  // getpid's address in libc (a PIE takes it from the GOT, not a PLT stub).
  const uint64_t fn = reinterpret_cast<uint64_t>(&getpid);
  std::string libc;
  {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line) && libc.empty()) {
      uint64_t lo = std::stoull(line, nullptr, 16), hi = std::stoull(line.substr(line.find('-') + 1), nullptr, 16);
      if (lo <= fn && fn < hi) libc = line.substr(line.find('/'));
    }
  }
  REQUIRE_THAT(libc, Catch::Contains("libc"));
  s.thread.ip = fn + 1;
  s.thread.frame = 0;
  TempFile tmp;
  self_image(s, libc).write(tmp.path);
  ImageFile img = ImageFile::open(tmp.path);
  std::vector<Frame> frames = backtrace(img, img.image().threads[0], 1);
  INFO(describe(frames));
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].file == "/nonexistent" + libc);
  CHECK_THAT(frames[0].symbol, Catch::Contains("getpid"));
  CHECK(frames[0].offset == 1);
}

TEST_CASE("backtrace: frame format") {
  Frame f{0x7f3a12b4c5d6, "/lib/x86_64-linux-gnu/libc.so.6", "nanosleep", 0x16};
  CHECK(format_frame(0, f) == "#0 0x00007f3a12b4c5d6 in nanosleep+0x16 (/lib/x86_64-linux-gnu/libc.so.6)");
  CHECK(format_frame(3, Frame{0x1000, "", "", 0}) == "#3 0x0000000000001000 in ??");
}
