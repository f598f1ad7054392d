// ImageFile::open's validation (every kind of bad image refused with a message
// naming what is wrong), the model round trip, read_memory, and a fuzz loop.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <tuple>

#include "image_builder.h"
#include "image_reader.h"

using namespace vproc::image;
using vproc::test::Defect;
using vproc::test::ImageBuilder;

namespace {

// A private directory for the test's files, removed with its contents.
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") + std::string("/vproc-image-test-XXXXXX");
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { REQUIRE(system(("rm -rf '" + path + "'").c_str()) == 0); }
  std::string file(const char* name) const { return path + "/" + name; }
};

// Every field, so that a field the decoder drops fails the comparison.
auto key(const ProcessInfo& p) {
  return std::tie(p.vpid, p.parent_vpid, p.node_index, p.uid, p.gid, p.real_pid, p.exe_path, p.argv, p.cwd, p.umask,
                  p.personality, p.auxv, p.comm, p.wall_time_ns, p.monotonic_ns, p.frozen_ns, p.state_addr,
                  p.generation, p.hostname);
}
auto key(const MmLayout& m) {
  return std::tie(m.start_code, m.end_code, m.start_data, m.end_data, m.start_brk, m.brk, m.start_stack, m.arg_start,
                  m.arg_end, m.env_start, m.env_end);
}
auto key(const Rlimit& r) { return std::tie(r.cur, r.max); }
auto key(const Itimer& t) { return std::tie(t.interval_us, t.value_us); }
auto key(const Vma& v) { return std::tie(v.start, v.end, v.prot, v.shared, v.kind, v.file, v.file_offset, v.name); }
auto key(const Chunk& c) { return std::tie(c.start, c.pages, c.offset, c.hash); }
auto key(const Blob& b) { return std::tie(b.offset, b.size, b.hash); }
auto key(const MappedFile& f) {
  return std::tie(f.path, f.dev, f.ino, f.size, f.mtime_ns, f.build_id, f.content_hash, f.embedded);
}
auto key(const EpollWatch& w) { return std::tie(w.fd, w.events, w.data); }
auto key(const Fd& f) {
  std::vector<std::tuple<int32_t, uint32_t, uint64_t>> watches;
  for (const EpollWatch& w : f.epoll_watches) watches.push_back(key(w));
  return std::tuple_cat(std::tie(f.fd, f.kind, f.path, f.flags, f.offset, f.same_as, f.dev, f.ino, f.size, f.mtime_ns,
                                 f.blob, f.pipe_size, f.eventfd_count, f.eventfd_semaphore),
                        std::make_tuple(watches));
}
auto key(const ResumeRegs& r) { return std::tie(r.rip, r.rsp, r.rbx, r.rbp, r.r12, r.r13, r.r14, r.r15); }
auto key(const Thread& t) {
  return std::tuple_cat(std::tie(t.tid, t.vtid, t.fs_base, t.gs_base, t.frame, t.ip, t.sp, t.bp, t.sigmask,
                                 t.tid_address, t.robust_list, t.robust_len, t.rseq_area, t.rseq_len, t.rseq_sig,
                                 t.comm),
                        key(t.resume));
}
auto key(const SigAction& a) { return std::tie(a.handler, a.flags, a.restorer, a.mask); }
auto key(const Range& r) { return std::tie(r.start, r.end); }
auto key(const KernelInfo& k) {
  return std::tuple_cat(std::tie(k.release, k.vdso_hash), key(k.vvar), key(k.vvar_vclock), key(k.vdso));
}
auto key(const CpuInfo& c) { return std::tie(c.xcr0, c.xfeatures, c.xstate_size, c.hwcap, c.hwcap2); }

template <typename T>
void require_same(const std::vector<T>& a, const std::vector<T>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(key(a[i]) == key(b[i]));
}

std::string refusal(const std::string& path) {
  try {
    ImageFile::open(path);
  } catch (const ImageError& e) {
    return e.what();
  }
  return "(accepted)";
}

void expect_refused(Defect d, const std::string& expected) {
  TempDir dir;
  std::string path = dir.file("bad.img");
  ImageBuilder::sample().write(path, d);
  std::string msg = refusal(path);
  INFO(msg);
  CHECK(msg.rfind(path + ": ", 0) == 0);
  CHECK_THAT(msg, Catch::Contains(expected));
}

}  // namespace

TEST_CASE("image reader: a good image round-trips every field") {
  TempDir dir;
  std::string path = dir.file("good.img");
  ImageBuilder b = ImageBuilder::sample();
  Image w;
  vproc::test::write_file(path, b.build(Defect::None, &w));
  ImageFile f = ImageFile::open(path);
  const Image& r = f.image();
  CHECK(memcmp(&r.header, &w.header, sizeof(ImageHeader)) == 0);
  CHECK(f.file_size() == w.header.file_size);
  CHECK(f.path() == path);
  CHECK(f.fd() >= 0);
  CHECK(key(r.process) == key(w.process));
  CHECK(key(r.process.mm) == key(w.process.mm));
  require_same(r.process.rlimits, w.process.rlimits);
  require_same(r.process.itimers, w.process.itimers);
  require_same(r.vmas, w.vmas);
  require_same(r.chunks, w.chunks);
  require_same(r.files, w.files);
  require_same(r.fds, w.fds);
  require_same(r.threads, w.threads);
  require_same(r.sigactions, w.sigactions);
  require_same(r.blobs, w.blobs);
  CHECK(key(r.kernel) == key(w.kernel));
  CHECK(key(r.cpu) == key(w.cpu));
  CHECK_NOTHROW(f.verify_data());
  CHECK(f.read_blob(r.blobs[0]) == std::string(5000, 'd'));

  ImageFile moved = std::move(f);
  CHECK(moved.image().vmas.size() == 5);
}

TEST_CASE("image reader: refuses a file that is not an image") {
  TempDir dir;
  CHECK_THAT(refusal(dir.file("none")), Catch::Contains("cannot open: No such file or directory"));
  CHECK_THAT(refusal(dir.path), Catch::Contains("not a regular file"));
  vproc::test::write_file(dir.file("empty"), "");
  CHECK_THAT(refusal(dir.file("empty")), Catch::Contains("not a vproc checkpoint image (bad magic)"));
  std::string head = ImageBuilder::sample().build().substr(0, 100);
  vproc::test::write_file(dir.file("short"), head);
  CHECK_THAT(refusal(dir.file("short")), Catch::Contains("truncated: 100 bytes, shorter than the image header"));
}

TEST_CASE("image reader: bad magic") { expect_refused(Defect::BadMagic, "not a vproc checkpoint image (bad magic)"); }
TEST_CASE("image reader: wrong version") {
  expect_refused(Defect::WrongVersion, "image format version 7, this vproc reads version 1");
}
TEST_CASE("image reader: foreign architecture") {
  expect_refused(Defect::ForeignArch, "image is for architecture 40 (ARM), this machine is x86-64");
}
TEST_CASE("image reader: truncated file") { expect_refused(Defect::Truncated, "truncated: header says "); }
TEST_CASE("image reader: corrupted metadata") {
  expect_refused(Defect::CorruptMeta, "metadata corrupted (hash mismatch)");
}
TEST_CASE("image reader: corrupted header") { expect_refused(Defect::CorruptHeader, "header corrupted (hash mismatch)"); }
TEST_CASE("image reader: chunk outside the file") {
  expect_refused(Defect::ChunkOutOfFile, "chunk 1 at 0x601000: outside the image file");
}
TEST_CASE("image reader: chunk not page-aligned") {
  expect_refused(Defect::ChunkUnaligned, "chunk 1 at 0x601000: offset 0x2200 in the image file is not page-aligned");
}
TEST_CASE("image reader: overlapping vmas") {
  expect_refused(Defect::OverlappingVmas, "vma 1 at 0x401000-0x604000: overlaps or precedes vma 0");
}
TEST_CASE("image reader: bad file index") {
  expect_refused(Defect::BadFileIndex, "vma 0 at 0x400000-0x402000: file index 4 out of range (1 files)");
}

TEST_CASE("image reader: verify_data finds corrupted chunk data") {
  TempDir dir;
  std::string path = dir.file("bad.img");
  ImageBuilder::sample().write(path, Defect::CorruptChunkData);
  ImageFile f = ImageFile::open(path);  // the metadata is fine
  try {
    f.verify_data();
    FAIL("verify_data accepted a corrupted chunk");
  } catch (const ImageError& e) {
    CHECK(std::string(e.what()) == path + ": chunk 0 at 0x401000: data corrupted (hash mismatch)");
  }
}

TEST_CASE("image reader: verify_data on an image truncated after it was opened") {
  TempDir dir;
  std::string path = dir.file("cut.img");
  ImageBuilder::sample().write(path);
  ImageFile f = ImageFile::open(path);
  REQUIRE(truncate(path.c_str(), 4096) == 0);  // the mapped chunks now raise SIGBUS
  try {
    f.verify_data();
    FAIL("verify_data accepted a truncated image");
  } catch (const ImageError& e) {
    CHECK(std::string(e.what()) == path + ": chunk 0 at 0x401000: cannot read it");
  }
}

TEST_CASE("image reader: model inconsistencies are refused") {
  TempDir dir;
  std::string path = dir.file("bad.img");
  auto refused = [&](void (*damage)(Image&)) {
    ImageBuilder b = ImageBuilder::sample();
    damage(b.model);
    b.write(path);
    return refusal(path);
  };
  CHECK_THAT(refused([](Image& m) { m.vmas[2].end += 1; }), Catch::Contains("not page-aligned"));
  CHECK_THAT(refused([](Image& m) { m.vmas[0].file = -1; }), Catch::Contains("file mapping without a file"));
  CHECK_THAT(refused([](Image& m) { m.vmas.erase(m.vmas.begin() + 1); }),
             Catch::Contains("chunk 1 at 0x601000: page 0x601000 is in no vma"));
  CHECK_THAT(refused([](Image& m) { m.fds[2].same_as = 9; }),
             Catch::Contains("fd 2: shares a file with fd 9, not a lower fd"));
  CHECK_THAT(refused([](Image& m) { m.fds[4].blob = 3; }), Catch::Contains("fd 5: blob index 3 out of range"));
  CHECK_THAT(refused([](Image& m) { std::swap(m.fds[0], m.fds[1]); }), Catch::Contains("not in ascending order"));
  CHECK_THAT(refused([](Image& m) { m.fds[7].flags = O_RDONLY; }),
             Catch::Contains("fd 8: pipe:[5678] has no write end in the image"));
  CHECK_THAT(refused([](Image& m) { m.fds[7].pipe_size = 4096; }),
             Catch::Contains("fd 8: fds 8 and 9 of one pipe disagree on its size or contents"));
  CHECK_THAT(refused([](Image& m) { m.fds[6].pipe_size = m.fds[7].pipe_size = 4; }),
             Catch::Contains("fd 8: 8 bytes buffered in a pipe of 4"));
  CHECK_THAT(refused([](Image& m) { m.fds[9].epoll_watches[1].fd = 6; }),
             Catch::Contains("fd 11: its epoll instance watches fd 6, which the image does not have"));
  CHECK_THAT(refused([](Image& m) { m.fds[9].epoll_watches[1].fd = 11; }),
             Catch::Contains("fd 11: its epoll instance watches fd 11, which the image does not have"));
  CHECK_THAT(refused([](Image& m) { m.threads.clear(); }), Catch::Contains("no threads"));
  CHECK_THAT(refused([](Image& m) { m.sigactions.pop_back(); }), Catch::Contains("63 signal actions, expected 64"));
  CHECK_THAT(refused([](Image& m) { m.files[0].path = "relative.so"; }), Catch::Contains("not an absolute path"));
  std::string bytes = ImageBuilder::sample().build();
  bytes[offsetof(ImageHeader, vpid)] ^= 1;
  vproc::test::rehash_header(bytes);
  vproc::test::write_file(path, bytes);
  CHECK_THAT(refusal(path), Catch::Contains("header says vpid 4194304, metadata says 4194305"));

  // data_bytes: the chunks and blobs, or the chunks alone; nothing else.
  bytes = ImageBuilder::sample().build();
  ImageHeader h;
  memcpy(&h, bytes.data(), sizeof h);
  for (uint64_t blobs : {uint64_t(0), uint64_t(1)}) {
    h.data_bytes = 7 * kImagePage + blobs;  // the sample's 7 stored pages
    memcpy(&bytes[0], &h, sizeof h);
    vproc::test::rehash_header(bytes);
    vproc::test::write_file(path, bytes);
    CHECK_THAT(refusal(path), Catch::Contains(blobs ? "header says 28673 bytes of page data, the chunks hold 28672 and the blobs 5008"
                                                    : "(accepted)"));
  }
}

TEST_CASE("image reader: read_memory") {
  TempDir dir;
  std::string path = dir.file("good.img");
  ImageBuilder b = ImageBuilder::sample();
  // Make the mapped file a real one on this host, the same as recorded.
  std::string lib = dir.file("libsample.so");
  std::string contents(0x2000, '\0');
  for (size_t i = 0; i < contents.size(); ++i) contents[i] = char(i * 7);
  vproc::test::write_file(lib, contents);
  struct stat st;
  REQUIRE(stat(lib.c_str(), &st) == 0);
  b.model.files[0] = MappedFile{lib, uint64_t(st.st_dev), uint64_t(st.st_ino), uint64_t(st.st_size),
                                int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, {}, 0, false};
  b.write(path);
  ImageFile f = ImageFile::open(path);

  uint64_t v = 0;
  CHECK(f.read_memory(0x601008, &v, 8));
  CHECK(v == 0x601008);  // stored chunk
  CHECK(f.read_memory(0x600010, &v, 8));
  CHECK(v == 0);  // anonymous, never stored
  std::string buf(0x3000, 'x');  // across unstored, stored and unstored pages
  REQUIRE(f.read_memory(0x600000, buf.data(), buf.size()));
  CHECK(buf.substr(0, 0x1000) == std::string(0x1000, '\0'));
  CHECK(buf.substr(0x1000, 0x2000) == b.chunk_data(1));
  // File vma 0x400000 maps file offset 0x1000; its second page is stored.
  char c[16];
  REQUIRE(f.read_memory(0x400010, c, sizeof c));
  CHECK(memcmp(c, contents.data() + 0x1010, sizeof c) == 0);
  REQUIRE(f.read_memory(0x401000, &v, 8));
  CHECK(v == 0x401000);
  // Across two vmas: file page then a hole.
  CHECK_FALSE(f.read_memory(0x401ff8, buf.data(), 16));
  CHECK_FALSE(f.read_memory(0x500000, &v, 8));
  CHECK_FALSE(f.read_memory(~0ull - 4, &v, 8));
  // The mapping goes past the end of the file (offset 0x1000 + 0x2000 > 0x2000):
  // pages beyond are not readable. Make the file shorter than recorded: it is "changed".
  vproc::test::write_file(lib, contents.substr(0, 100));
  ImageFile g = ImageFile::open(path);
  CHECK_FALSE(g.read_memory(0x400010, c, sizeof c));
  REQUIRE(g.read_memory(0x401000, &v, 8));  // stored pages do not need the file
}

// Random damage: open() and everything after it either work or throw
// ImageError; never crash, hang or throw anything else.
TEST_CASE("image reader: fuzzed images never crash the reader") {
  // In memory: rewriting a file on disk 3000 times is slow (ext4 flushes a
  // file that is truncated and rewritten).
  int mem = memfd_create("fuzz.img", MFD_CLOEXEC);
  REQUIRE(mem >= 0);
  const std::string path = "/proc/self/fd/" + std::to_string(mem);
  Image written;
  const std::string base = ImageBuilder::sample().build(Defect::None, &written);
  const uint64_t meta_offset = written.header.meta_offset, meta_size = written.header.meta_size;
  std::mt19937_64 rng(20240601);
  auto below = [&](uint64_t n) { return n ? rng() % n : 0; };
  int opened = 0, refused = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string img = base;
    switch (iter % 5) {
      case 0:  // bit flips anywhere
        for (int k = 1 + int(below(8)); k > 0; --k) img[below(img.size())] ^= char(1 << below(8));
        break;
      case 1:  // truncation
        img.resize(below(img.size()));
        break;
      case 2:  // bit flips in the metadata, hashes recomputed: the parser sees them
        for (int k = 1 + int(below(6)); k > 0; --k) img[meta_offset + below(meta_size)] ^= char(1 << below(8));
        vproc::test::rehash_metadata(img);
        break;
      case 3: {  // a run of random metadata bytes, hashes recomputed
        uint64_t at = below(meta_size), len = 1 + below(std::min<uint64_t>(64, meta_size - at));
        for (uint64_t i = 0; i < len; ++i) img[meta_offset + at + i] = char(rng());
        vproc::test::rehash_metadata(img);
        break;
      }
      case 4:  // header fields changed, header hash recomputed
        for (int k = 1 + int(below(3)); k > 0; --k) img[8 + below(72)] = char(rng());
        vproc::test::rehash_header(img);
        break;
    }
    REQUIRE(ftruncate(mem, 0) == 0);
    REQUIRE(pwrite(mem, img.data(), img.size(), 0) == ssize_t(img.size()));
    try {
      ImageFile f = ImageFile::open(path);
      ++opened;
      try {
        f.verify_data();
      } catch (const ImageError&) {
      }
      char buf[256];
      for (const Vma& v : f.image().vmas) (void)f.read_memory(v.start, buf, sizeof buf);
      for (int k = 0; k < 8; ++k) (void)f.read_memory(rng() % (1ull << 48), buf, sizeof buf);
      for (const Blob& b : f.image().blobs) {
        try {
          (void)f.read_blob(b);
        } catch (const ImageError&) {
        }
      }
    } catch (const ImageError&) {
      ++refused;
    }
  }
  close(mem);
  INFO("opened " << opened << ", refused " << refused);
  CHECK(refused > 1000);
  CHECK(opened > 0);
}
