#include "image_decode.h"

#include <capnp/serialize.h>
#include <kj/exception.h>

#include "image.capnp.h"
#include "image_reader.h"

namespace vproc::image {
namespace {

namespace s = schema;

// Far more than any real process has (vm.max_map_count defaults to 65530), and
// small enough that a hostile count cannot make the model take gigabytes.
constexpr uint64_t kMaxListItems = 1u << 20;

struct Decoder {
  const std::string& who;
  uint64_t max_chunks;

  [[noreturn]] void fail(const std::string& why) const {
    throw ImageError(who + ": metadata corrupted (" + why + ")");
  }
  template <typename List>
  uint32_t count(const List& l, const char* what, uint64_t max) const {
    if (l.size() > max)
      fail(std::to_string(l.size()) + " " + what + ", at most " + std::to_string(max) + " accepted");
    return l.size();
  }
  static std::string str(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }
  static Range range(s::Range::Reader r) { return Range{r.getStart(), r.getEnd()}; }

  void process(s::Process::Reader p, ProcessInfo& out) const {
    out.vpid = p.getVpid();
    out.parent_vpid = p.getParentVpid();
    out.node_index = p.getNodeIndex();
    out.uid = p.getUid();
    out.gid = p.getGid();
    out.real_pid = p.getRealPid();
    out.exe_path = str(p.getExePath());
    auto argv = p.getArgv();
    out.argv.reserve(count(argv, "arguments", kMaxListItems));
    for (auto a : argv) out.argv.push_back(str(a));
    out.cwd = str(p.getCwd());
    out.umask = p.getUmask();
    out.personality = p.getPersonality();
    auto rl = p.getRlimits();
    out.rlimits.reserve(count(rl, "rlimits", 64));
    for (auto r : rl) out.rlimits.push_back(Rlimit{r.getCur(), r.getMax()});
    auto mm = p.getMm();
    out.mm = MmLayout{mm.getStartCode(), mm.getEndCode(), mm.getStartData(), mm.getEndData(),
                      mm.getStartBrk(),  mm.getBrk(),     mm.getStartStack(), mm.getArgStart(),
                      mm.getArgEnd(),    mm.getEnvStart(), mm.getEnvEnd()};
    auto auxv = p.getAuxv();
    out.auxv.assign(auxv.begin(), auxv.end());
    auto it = p.getItimers();
    out.itimers.reserve(count(it, "interval timers", 3));
    for (auto t : it) out.itimers.push_back(Itimer{t.getIntervalUs(), t.getValueUs()});
    out.comm = str(p.getComm());
    out.wall_time_ns = p.getWallTimeNs();
    out.monotonic_ns = p.getMonotonicNs();
    out.frozen_ns = p.getFrozenNs();
    out.state_addr = p.getStateAddr();
    out.generation = p.getGeneration();
    out.hostname = str(p.getHostname());
  }

  void vmas(capnp::List<s::Vma>::Reader l, std::vector<Vma>& out) const {
    out.reserve(count(l, "vmas", kMaxListItems));
    for (auto v : l) {
      auto kind = uint16_t(v.getKind());
      if (kind > uint16_t(s::Vma::Kind::SHARED_FILE))
        fail("vma " + std::to_string(out.size()) + " has unknown kind " + std::to_string(kind));
      out.push_back(Vma{v.getStart(), v.getEnd(), v.getProt(), v.getShared(), VmaKind(kind), v.getFile(),
                        v.getFileOffset(), str(v.getName())});
    }
  }

  void files(capnp::List<s::MappedFile>::Reader l, std::vector<MappedFile>& out) const {
    out.reserve(count(l, "files", kMaxListItems));
    for (auto f : l) {
      auto id = f.getBuildId();
      out.push_back(MappedFile{str(f.getPath()), f.getDev(), f.getIno(), f.getSize(), f.getMtimeNs(),
                               std::vector<uint8_t>(id.begin(), id.end()), f.getContentHash(), f.getEmbedded()});
    }
  }

  void fds(capnp::List<s::Fd>::Reader l, std::vector<Fd>& out) const {
    out.reserve(count(l, "fds", kMaxListItems));
    for (auto f : l) {
      auto kind = uint16_t(f.getKind());
      if (kind > uint16_t(s::Fd::Kind::EVENTFD))
        fail("fd " + std::to_string(f.getFd()) + " has unknown kind " + std::to_string(kind));
      Fd m{f.getFd(), FdKind(kind), str(f.getPath()), f.getFlags(), f.getOffset(), f.getSameAs(),
           f.getDev(), f.getIno(), f.getSize(), f.getMtimeNs(), f.getBlob()};
      m.pipe_size = f.getPipeSize();
      auto watches = f.getEpollWatches();
      m.epoll_watches.reserve(count(watches, "epoll registrations", kMaxListItems));
      for (auto w : watches) m.epoll_watches.push_back(EpollWatch{w.getFd(), w.getEvents(), w.getData()});
      m.eventfd_count = f.getEventfdCount();
      m.eventfd_semaphore = f.getEventfdSemaphore();
      out.push_back(std::move(m));
    }
  }

  void threads(capnp::List<s::Thread>::Reader l, std::vector<Thread>& out) const {
    out.reserve(count(l, "threads", kMaxListItems));
    for (auto t : l) {
      Thread m;
      m.tid = t.getTid();
      m.vtid = t.getVtid();
      m.fs_base = t.getFsBase();
      m.gs_base = t.getGsBase();
      auto r = t.getResume();
      m.resume = ResumeRegs{r.getRip(), r.getRsp(), r.getRbx(), r.getRbp(),
                            r.getR12(), r.getR13(), r.getR14(), r.getR15()};
      m.frame = t.getFrame();
      m.ip = t.getIp();
      m.sp = t.getSp();
      m.bp = t.getBp();
      m.sigmask = t.getSigmask();
      m.tid_address = t.getTidAddress();
      m.robust_list = t.getRobustList();
      m.robust_len = t.getRobustLen();
      m.rseq_area = t.getRseqArea();
      m.rseq_len = t.getRseqLen();
      m.rseq_sig = t.getRseqSig();
      m.comm = str(t.getComm());
      out.push_back(std::move(m));
    }
  }

  void decode(s::Image::Reader root, Image& img) const {
    process(root.getProcess(), img.process);
    vmas(root.getVmas(), img.vmas);
    auto chunks = root.getChunks();
    img.chunks.reserve(count(chunks, "chunks", max_chunks));
    for (auto c : chunks) img.chunks.push_back(Chunk{c.getStart(), c.getPages(), c.getOffset(), c.getHash()});
    files(root.getFiles(), img.files);
    fds(root.getFds(), img.fds);
    threads(root.getThreads(), img.threads);
    auto sa = root.getSigactions();
    img.sigactions.reserve(count(sa, "signal actions", 64));
    for (auto a : sa) img.sigactions.push_back(SigAction{a.getHandler(), a.getFlags(), a.getRestorer(), a.getMask()});
    auto k = root.getKernel();
    img.kernel = KernelInfo{str(k.getRelease()), range(k.getVvar()), range(k.getVvarVclock()), range(k.getVdso()),
                            k.getVdsoHash()};
    auto cpu = root.getCpu();
    img.cpu = CpuInfo{cpu.getXcr0(), cpu.getXfeatures(), cpu.getXstateSize(), cpu.getHwcap(), cpu.getHwcap2()};
    auto blobs = root.getBlobs();
    img.blobs.reserve(count(blobs, "blobs", max_chunks));
    for (auto b : blobs) img.blobs.push_back(Blob{b.getOffset(), b.getSize(), b.getHash()});
  }
};

}  // namespace

void decode_metadata(const std::string& who, const void* words, size_t size, uint64_t max_chunks, Image& img) {
  Decoder d{who, max_chunks};
  if (size == 0 || size % sizeof(capnp::word) != 0) d.fail("size " + std::to_string(size) + " is not whole words");
  kj::ArrayPtr<const capnp::word> array(static_cast<const capnp::word*>(words), size / sizeof(capnp::word));
  // Every getter above runs once, so a valid message is traversed about once;
  // the limit stops a message whose pointers make it read the same words over
  // and over (or lists of empty structs claiming millions of elements).
  capnp::ReaderOptions options;
  options.traversalLimitInWords = 2 * array.size() + 1024;
  options.nestingLimit = 16;
  try {
    capnp::FlatArrayMessageReader reader(array, options);
    if (reader.getEnd() != array.end())
      d.fail(std::to_string((array.end() - reader.getEnd()) * sizeof(capnp::word)) +
             " bytes after the message");
    d.decode(reader.getRoot<s::Image>(), img);
  } catch (const kj::Exception& e) {
    d.fail(std::string(e.getDescription().cStr()));
  }
}

}  // namespace vproc::image
