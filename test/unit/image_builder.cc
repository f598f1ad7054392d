#include "image_builder.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <xxhash.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

#include "image.capnp.h"

namespace vproc::test {

using namespace vproc::image;
namespace s = vproc::image::schema;

namespace {

uint64_t round_page(uint64_t v) { return (v + kImagePage - 1) / kImagePage * kImagePage; }

// Distinct, recognisable page contents: each 8-byte word holds its address.
std::string pattern(uint64_t addr, size_t pages) {
  std::string d(pages * kImagePage, '\0');
  for (size_t i = 0; i < d.size(); i += 8) {
    uint64_t v = addr + i;
    memcpy(&d[i], &v, 8);
  }
  return d;
}

void encode_process(const ProcessInfo& p, s::Process::Builder b) {
  b.setVpid(p.vpid);
  b.setParentVpid(p.parent_vpid);
  b.setNodeIndex(p.node_index);
  b.setUid(p.uid);
  b.setGid(p.gid);
  b.setRealPid(p.real_pid);
  b.setExePath(p.exe_path);
  auto argv = b.initArgv(p.argv.size());
  for (size_t i = 0; i < p.argv.size(); ++i) argv.set(i, p.argv[i]);
  b.setCwd(p.cwd);
  b.setUmask(p.umask);
  b.setPersonality(p.personality);
  auto rl = b.initRlimits(p.rlimits.size());
  for (size_t i = 0; i < p.rlimits.size(); ++i) {
    rl[i].setCur(p.rlimits[i].cur);
    rl[i].setMax(p.rlimits[i].max);
  }
  auto mm = b.initMm();
  mm.setStartCode(p.mm.start_code);
  mm.setEndCode(p.mm.end_code);
  mm.setStartData(p.mm.start_data);
  mm.setEndData(p.mm.end_data);
  mm.setStartBrk(p.mm.start_brk);
  mm.setBrk(p.mm.brk);
  mm.setStartStack(p.mm.start_stack);
  mm.setArgStart(p.mm.arg_start);
  mm.setArgEnd(p.mm.arg_end);
  mm.setEnvStart(p.mm.env_start);
  mm.setEnvEnd(p.mm.env_end);
  b.setAuxv(kj::arrayPtr(p.auxv.data(), p.auxv.size()));
  auto it = b.initItimers(p.itimers.size());
  for (size_t i = 0; i < p.itimers.size(); ++i) {
    it[i].setIntervalUs(p.itimers[i].interval_us);
    it[i].setValueUs(p.itimers[i].value_us);
  }
  b.setComm(p.comm);
  b.setWallTimeNs(p.wall_time_ns);
  b.setMonotonicNs(p.monotonic_ns);
  b.setFrozenNs(p.frozen_ns);
  b.setStateAddr(p.state_addr);
  b.setGeneration(p.generation);
  b.setHostname(p.hostname);
}

void encode_thread(const Thread& t, s::Thread::Builder b) {
  b.setTid(t.tid);
  b.setVtid(t.vtid);
  b.setFsBase(t.fs_base);
  b.setGsBase(t.gs_base);
  auto r = b.initResume();
  r.setRip(t.resume.rip);
  r.setRsp(t.resume.rsp);
  r.setRbx(t.resume.rbx);
  r.setRbp(t.resume.rbp);
  r.setR12(t.resume.r12);
  r.setR13(t.resume.r13);
  r.setR14(t.resume.r14);
  r.setR15(t.resume.r15);
  b.setFrame(t.frame);
  b.setIp(t.ip);
  b.setSp(t.sp);
  b.setBp(t.bp);
  b.setSigmask(t.sigmask);
  b.setTidAddress(t.tid_address);
  b.setRobustList(t.robust_list);
  b.setRobustLen(t.robust_len);
  b.setRseqArea(t.rseq_area);
  b.setRseqLen(t.rseq_len);
  b.setRseqSig(t.rseq_sig);
  b.setComm(t.comm);
}

void set_range(s::Range::Builder b, const Range& r) {
  b.setStart(r.start);
  b.setEnd(r.end);
}

}  // namespace

std::string encode_metadata(const Image& img) {
  capnp::MallocMessageBuilder msg;
  auto root = msg.initRoot<s::Image>();
  encode_process(img.process, root.initProcess());
  auto vmas = root.initVmas(img.vmas.size());
  for (size_t i = 0; i < img.vmas.size(); ++i) {
    const Vma& v = img.vmas[i];
    vmas[i].setStart(v.start);
    vmas[i].setEnd(v.end);
    vmas[i].setProt(v.prot);
    vmas[i].setShared(v.shared);
    vmas[i].setKind(s::Vma::Kind(v.kind));
    vmas[i].setFile(v.file);
    vmas[i].setFileOffset(v.file_offset);
    vmas[i].setName(v.name);
  }
  auto chunks = root.initChunks(img.chunks.size());
  for (size_t i = 0; i < img.chunks.size(); ++i) {
    chunks[i].setStart(img.chunks[i].start);
    chunks[i].setPages(img.chunks[i].pages);
    chunks[i].setOffset(img.chunks[i].offset);
    chunks[i].setHash(img.chunks[i].hash);
  }
  auto files = root.initFiles(img.files.size());
  for (size_t i = 0; i < img.files.size(); ++i) {
    const MappedFile& f = img.files[i];
    files[i].setPath(f.path);
    files[i].setDev(f.dev);
    files[i].setIno(f.ino);
    files[i].setSize(f.size);
    files[i].setMtimeNs(f.mtime_ns);
    files[i].setBuildId(kj::arrayPtr(f.build_id.data(), f.build_id.size()));
    files[i].setContentHash(f.content_hash);
    files[i].setEmbedded(f.embedded);
  }
  auto fds = root.initFds(img.fds.size());
  for (size_t i = 0; i < img.fds.size(); ++i) {
    const Fd& f = img.fds[i];
    fds[i].setFd(f.fd);
    fds[i].setKind(s::Fd::Kind(f.kind));
    fds[i].setPath(f.path);
    fds[i].setFlags(f.flags);
    fds[i].setOffset(f.offset);
    fds[i].setSameAs(f.same_as);
    fds[i].setDev(f.dev);
    fds[i].setIno(f.ino);
    fds[i].setSize(f.size);
    fds[i].setMtimeNs(f.mtime_ns);
    fds[i].setBlob(f.blob);
    fds[i].setPipeSize(f.pipe_size);
    auto watches = fds[i].initEpollWatches(f.epoll_watches.size());
    for (size_t k = 0; k < f.epoll_watches.size(); ++k) {
      watches[k].setFd(f.epoll_watches[k].fd);
      watches[k].setEvents(f.epoll_watches[k].events);
      watches[k].setData(f.epoll_watches[k].data);
    }
    fds[i].setEventfdCount(f.eventfd_count);
    fds[i].setEventfdSemaphore(f.eventfd_semaphore);
  }
  auto threads = root.initThreads(img.threads.size());
  for (size_t i = 0; i < img.threads.size(); ++i) encode_thread(img.threads[i], threads[i]);
  auto sa = root.initSigactions(img.sigactions.size());
  for (size_t i = 0; i < img.sigactions.size(); ++i) {
    sa[i].setHandler(img.sigactions[i].handler);
    sa[i].setFlags(img.sigactions[i].flags);
    sa[i].setRestorer(img.sigactions[i].restorer);
    sa[i].setMask(img.sigactions[i].mask);
  }
  auto k = root.initKernel();
  k.setRelease(img.kernel.release);
  set_range(k.initVvar(), img.kernel.vvar);
  set_range(k.initVvarVclock(), img.kernel.vvar_vclock);
  set_range(k.initVdso(), img.kernel.vdso);
  k.setVdsoHash(img.kernel.vdso_hash);
  auto cpu = root.initCpu();
  cpu.setXcr0(img.cpu.xcr0);
  cpu.setXfeatures(img.cpu.xfeatures);
  cpu.setXstateSize(img.cpu.xstate_size);
  cpu.setHwcap(img.cpu.hwcap);
  cpu.setHwcap2(img.cpu.hwcap2);
  auto blobs = root.initBlobs(img.blobs.size());
  for (size_t i = 0; i < img.blobs.size(); ++i) {
    blobs[i].setOffset(img.blobs[i].offset);
    blobs[i].setSize(img.blobs[i].size);
    blobs[i].setHash(img.blobs[i].hash);
  }
  kj::Array<capnp::word> words = capnp::messageToFlatArray(msg);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

size_t ImageBuilder::add_chunk(uint64_t addr, std::string data) {
  Chunk c;
  c.start = addr;
  c.pages = uint32_t(data.size() / kImagePage);
  model.chunks.push_back(c);
  chunk_data_.push_back(std::move(data));
  return model.chunks.size() - 1;
}

size_t ImageBuilder::add_blob(std::string data) {
  model.blobs.push_back(Blob{0, data.size(), 0});
  blob_data_.push_back(std::move(data));
  return model.blobs.size() - 1;
}

std::string ImageBuilder::build(Defect d, Image* written) const {
  Image m = model;
  uint64_t offset = kDataOffset, data_bytes = 0;
  for (size_t i = 0; i < m.chunks.size(); ++i) {
    m.chunks[i].offset = offset;
    m.chunks[i].hash = XXH3_64bits(chunk_data_[i].data(), chunk_data_[i].size());
    offset += chunk_data_[i].size();
    data_bytes += chunk_data_[i].size();
  }
  for (size_t i = 0; i < m.blobs.size(); ++i) {
    m.blobs[i].offset = offset;
    m.blobs[i].hash = XXH3_64bits(blob_data_[i].data(), blob_data_[i].size());
    offset = round_page(offset + blob_data_[i].size());
    data_bytes += blob_data_[i].size();
  }
  if (d == Defect::ChunkOutOfFile) m.chunks.at(1).offset = 1ull << 40;
  if (d == Defect::ChunkUnaligned) m.chunks.at(1).offset += 512;
  if (d == Defect::OverlappingVmas) m.vmas.at(1).start = m.vmas.at(0).end - kImagePage;
  if (d == Defect::BadFileIndex) m.vmas.at(0).file = int32_t(m.files.size()) + 3;

  ImageHeader& h = m.header;
  h = ImageHeader{};
  memcpy(h.magic, kImageMagic, sizeof h.magic);
  h.version = d == Defect::WrongVersion ? 7 : kImageVersion;
  h.header_size = sizeof(ImageHeader);
  h.arch = d == Defect::ForeignArch ? 40 : kArchX86_64;
  h.page_size = kImagePage;
  h.meta_offset = round_page(offset);
  std::string meta = encode_metadata(m);
  h.meta_size = meta.size();
  h.meta_hash = XXH3_64bits(meta.data(), meta.size());
  h.data_bytes = data_bytes;
  h.file_size = h.meta_offset + meta.size();
  h.vpid = m.process.vpid;
  h.header_hash = XXH3_64bits(&h, offsetof(ImageHeader, header_hash));

  std::string file(h.file_size, '\0');
  memcpy(&file[0], &h, sizeof h);
  for (size_t i = 0; i < m.chunks.size(); ++i)
    if (m.chunks[i].offset + chunk_data_[i].size() <= h.meta_offset)
      memcpy(&file[m.chunks[i].offset], chunk_data_[i].data(), chunk_data_[i].size());
  for (size_t i = 0; i < m.blobs.size(); ++i) memcpy(&file[m.blobs[i].offset], blob_data_[i].data(), m.blobs[i].size);
  memcpy(&file[h.meta_offset], meta.data(), meta.size());

  switch (d) {
    case Defect::BadMagic: file[0] = 'X'; break;
    case Defect::Truncated: file.resize(h.meta_offset + h.meta_size / 2); break;
    case Defect::CorruptMeta: file[h.meta_offset + h.meta_size / 2] ^= 0x20; break;
    case Defect::CorruptHeader: file[offsetof(ImageHeader, data_bytes)] ^= 0x01; break;
    case Defect::CorruptChunkData: file[m.chunks.at(0).offset + 100] ^= 0x01; break;
    default: break;
  }
  if (written) *written = m;
  return file;
}

void ImageBuilder::write(const std::string& path, Defect d) const { write_file(path, build(d)); }

void rehash_header(std::string& file) {
  ImageHeader h;
  memcpy(&h, file.data(), sizeof h);
  h.header_hash = XXH3_64bits(&h, offsetof(ImageHeader, header_hash));
  memcpy(&file[0], &h, sizeof h);
}

void rehash_metadata(std::string& file) {
  ImageHeader h;
  memcpy(&h, file.data(), sizeof h);
  if (h.meta_offset <= file.size() && h.meta_size <= file.size() - h.meta_offset)
    h.meta_hash = XXH3_64bits(file.data() + h.meta_offset, h.meta_size);
  memcpy(&file[0], &h, sizeof h);
  rehash_header(file);
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

ImageBuilder ImageBuilder::sample() {
  ImageBuilder b;
  Image& m = b.model;
  ProcessInfo& p = m.process;
  p = ProcessInfo{4194305, 4194304, 2, 1000, 1001, 31337, "/usr/bin/sample", {"sample", "--flag", "arg"},
                  "/home/user", 022, 0x0040000};
  for (uint64_t r = 0; r < 16; ++r) p.rlimits.push_back(Rlimit{r * 100 + 1, r * 100 + 2});
  p.mm = MmLayout{0x400000, 0x401800, 0x600000, 0x600800, 0x1000000, 0x1004000, 0x7ffff0007f00,
                  0x7ffff0007f10, 0x7ffff0007f40, 0x7ffff0007f40, 0x7ffff0007fe0};
  for (uint64_t kv : {6ull, 4096ull, 25ull, 0x7ffff0007f80ull, 0ull, 0ull}) {
    uint8_t bytes[8];
    memcpy(bytes, &kv, 8);
    p.auxv.insert(p.auxv.end(), bytes, bytes + 8);
  }
  p.itimers = {Itimer{1000, 2000}, Itimer{3, 4}, Itimer{5, 6}};
  p.comm = "sample";
  p.wall_time_ns = 1700000000123456789ull;
  p.monotonic_ns = 987654321;
  p.frozen_ns = 1234567;
  p.state_addr = 0x600100;
  p.generation = 3;
  p.hostname = "node-a";

  m.files.push_back(MappedFile{"/nonexistent/libsample.so", 0x801, 123456, 0x2000, 1600000000000000001,
                               {0xde, 0xad, 0xbe, 0xef}, 0x1122334455667788ull, false});
  m.vmas = {
      Vma{0x400000, 0x402000, 5, false, VmaKind::File, 0, 0x1000, "/nonexistent/libsample.so"},
      Vma{0x600000, 0x604000, 3, false, VmaKind::Anonymous, -1, 0, ""},
      Vma{0x1000000, 0x1004000, 3, false, VmaKind::Heap, -1, 0, "[heap]"},
      Vma{0x7f0000000000, 0x7f0000010000, 0, false, VmaKind::Reserved, -1, 0, ""},
      Vma{0x7ffff0000000, 0x7ffff0008000, 3, false, VmaKind::Stack, -1, 0, "[stack]"},
  };
  b.add_chunk(0x401000, pattern(0x401000, 1));  // a written page of the private file mapping
  b.add_chunk(0x601000, pattern(0x601000, 2));
  b.add_chunk(0x1000000, pattern(0x1000000, 2));
  b.add_chunk(0x7ffff0006000, pattern(0x7ffff0006000, 2));
  std::string deleted(5000, 'd');
  size_t blob = b.add_blob(deleted);

  m.fds = {
      Fd{0, FdKind::Stdio, "pipe:[1234]", 0, 0, -1, 0, 0, 0, 0, -1},
      Fd{1, FdKind::Tty, "/dev/pts/3", 02, 0, -1, 0x22, 6, 0, 0, -1},
      Fd{2, FdKind::Tty, "/dev/pts/3", 02, 0, 1, 0x22, 6, 0, 0, -1},
      Fd{3, FdKind::Regular, "/home/user/data.txt", 02000002, 4242, -1, 0x801, 99, 10000, 1650000000000000000, -1},
      Fd{5, FdKind::Deleted, "/tmp/scratch (deleted)", 02, 17, -1, 0x801, 77, 5000, 1650000000000000007,
         int32_t(blob)},
      Fd{7, FdKind::DevNull, "/dev/null", 0, 0, -1, 5, 4, 0, 0, -1},
      Fd{8, FdKind::Pipe, "pipe:[5678]", 04000, 0, -1, 0xf, 5678, 0, 0, int32_t(b.add_blob("buffered"))},
      Fd{9, FdKind::Pipe, "pipe:[5678]", 01, 0, -1, 0xf, 5678, 0, 0, -1},
      Fd{10, FdKind::Eventfd, "anon_inode:[eventfd]", 04002, 0, -1, 0x10, 1038, 0, 0, -1},
      Fd{11, FdKind::Epoll, "anon_inode:[eventpoll]", 02000002, 0, -1, 0x10, 1038, 0, 0, -1},
  };
  m.fds[6].pipe_size = m.fds[7].pipe_size = 65536;  // a pipe: fd 8 reads, fd 9 writes
  m.fds[7].blob = m.fds[6].blob;
  m.fds[8].eventfd_count = 0x123456789;
  m.fds[8].eventfd_semaphore = true;
  m.fds[9].epoll_watches = {EpollWatch{8, 0x80000019, 0x1122334455667788}, EpollWatch{10, 0x40000000, 7}};
  Thread t0;
  t0.tid = 31337;
  t0.vtid = 4194305;
  t0.fs_base = 0x7ffff7d8a740;
  t0.gs_base = 0x10;
  t0.resume = ResumeRegs{0x401100, 0x7ffff0007000, 1, 2, 3, 4, 5, 6};
  t0.frame = 0x7ffff0006800;
  t0.ip = 0x401234;
  t0.sp = 0x7ffff0007e00;
  t0.bp = 0x7ffff0007e40;
  t0.sigmask = 0x10000;
  t0.tid_address = 0x7ffff7d8aa10;
  t0.robust_list = 0x7ffff7d8aa20;
  t0.robust_len = 24;
  t0.rseq_area = 0x7ffff7d8b0e0;
  t0.rseq_len = 32;
  t0.rseq_sig = 0x53053053;
  t0.comm = "sample";
  Thread t1 = t0;
  t1.tid = 31338;
  t1.vtid = 4194306;
  t1.ip = 0x401300;
  t1.comm = "worker";
  m.threads = {t0, t1};
  for (uint64_t i = 0; i < 64; ++i) m.sigactions.push_back(SigAction{i == 9 ? 0x401500ull : 0ull, i, 0x401600, i << 3});
  m.kernel = KernelInfo{"6.18.44-test", {0x7ffff7fc0000, 0x7ffff7fc4000}, {0x7ffff7fc4000, 0x7ffff7fc6000},
                        {0x7ffff7fc6000, 0x7ffff7fc8000}, 0xabcdef};
  m.cpu = CpuInfo{0x602e7, 0x2e7, 2816, 0x178bfbff, 2};
  return b;
}

}  // namespace vproc::test
