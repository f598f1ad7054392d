// The image metadata as a Cap'n Proto message (ckpt/image.capnp), built in the
// snapshot writer without malloc: the builder's first segment is scratch
// memory sized from what was collected, so it never needs a second one.
#include <cerrno>
#include <capnp/message.h>

#include <cstring>

#include "ckpt_facts.h"
#include "image.capnp.h"

namespace vproc::lib {
namespace {

namespace im = vproc::image::schema;

im::Vma::Kind vma_kind(VmaKind k) {
  switch (k) {
    case VmaKind::File: return im::Vma::Kind::FILE;
    case VmaKind::Stack: return im::Vma::Kind::STACK;
    case VmaKind::Heap: return im::Vma::Kind::HEAP;
    case VmaKind::Reserved: return im::Vma::Kind::RESERVED;
    case VmaKind::SharedFile: return im::Vma::Kind::SHARED_FILE;
    default: return im::Vma::Kind::ANONYMOUS;
  }
}

im::Fd::Kind fd_kind(FdKind k) {
  switch (k) {
    case FdKind::Deleted: return im::Fd::Kind::DELETED;
    case FdKind::Directory: return im::Fd::Kind::DIRECTORY;
    case FdKind::DevNull: return im::Fd::Kind::DEV_NULL;
    case FdKind::DevZero: return im::Fd::Kind::DEV_ZERO;
    case FdKind::DevUrandom: return im::Fd::Kind::DEV_URANDOM;
    case FdKind::DevRandom: return im::Fd::Kind::DEV_RANDOM;
    case FdKind::Tty: return im::Fd::Kind::TTY;
    case FdKind::Stdio: return im::Fd::Kind::STDIO;
    case FdKind::Pipe: return im::Fd::Kind::PIPE;
    case FdKind::Epoll: return im::Fd::Kind::EPOLL;
    case FdKind::Eventfd: return im::Fd::Kind::EVENTFD;
    default: return im::Fd::Kind::REGULAR;
  }
}

size_t words_for(const char* s) { return s ? strlen(s) / 8 + 2 : 1; }

void fill_process(im::Process::Builder p, const ProcessFacts& f) {
  p.setVpid(f.vpid);
  p.setParentVpid(f.parent);
  p.setNodeIndex(f.node);
  p.setUid(f.uid);
  p.setGid(f.gid);
  p.setRealPid(f.real_pid);
  p.setExePath(f.exe);
  unsigned argc = 0;
  for (long i = 0; i < f.cmdline_len; ++i) argc += f.cmdline[i] == 0;
  auto argv = p.initArgv(argc);
  const char* a = f.cmdline;
  for (unsigned i = 0; i < argc; ++i) {
    argv.set(i, a);
    a += strlen(a) + 1;
  }
  p.setCwd(f.cwd);
  p.setUmask(f.umask);
  p.setPersonality(f.personality);
  auto rl = p.initRlimits(16);
  for (unsigned r = 0; r < 16; ++r) {
    rl[r].setCur(f.rlimits[r][0]);
    rl[r].setMax(f.rlimits[r][1]);
  }
  auto mm = p.initMm();
  mm.setStartCode(f.mm[0]);
  mm.setEndCode(f.mm[1]);
  mm.setStartData(f.mm[2]);
  mm.setEndData(f.mm[3]);
  mm.setStartBrk(f.mm[4]);
  mm.setBrk(f.mm[5]);
  mm.setStartStack(f.mm[6]);
  mm.setArgStart(f.mm[7]);
  mm.setArgEnd(f.mm[8]);
  mm.setEnvStart(f.mm[9]);
  mm.setEnvEnd(f.mm[10]);
  p.setAuxv(kj::arrayPtr(reinterpret_cast<const kj::byte*>(f.auxv), size_t(f.auxv_len)));
  p.setComm(f.comm);
  p.setWallTimeNs(f.wall_ns);
  p.setMonotonicNs(f.mono_ns);
  p.setFrozenNs(f.frozen_ns);
  p.setStateAddr(f.state_addr);
  p.setGeneration(f.generation);
  p.setHostname(f.hostname);
}

}  // namespace

int write_metadata(Scratch& s, ImageOut& out, const ProcessFacts& f, const CkptState& c, size_t* len,
                   uint64_t* hash) {
  // Generous: every struct and pointer counted at several times its size.
  size_t words = 4096 + out.chunk_count * 6 + size_t(out.vma_count) * 12 + size_t(out.file_count) * 24 +
                 size_t(out.fd_count) * 24 + size_t(out.blob_count) * 6 + size_t(f.cmdline_len) / 8 * 2 +
                 size_t(f.auxv_len) / 8 + 64 * 8;
  for (int i = 0; i < out.vma_count; ++i) words += words_for(out.vmas[i].name);
  for (int i = 0; i < out.file_count; ++i) words += words_for(out.files[i].path);
  for (int i = 0; i < out.fd_count; ++i) words += words_for(out.fds[i].path) + size_t(out.fds[i].watch_count) * 6;
  words += words_for(f.exe) + words_for(f.cwd) + 64;
  auto* seg = static_cast<capnp::word*>(s.take((words + 1) * sizeof(capnp::word), 4096));
  if (!seg) return -ENOMEM;
  try {
    // The segment must be zero (fresh mmap pages are). The builder zeroes it
    // again when destroyed, so the message is written out before that.
    capnp::MallocMessageBuilder mb(kj::arrayPtr(seg + 1, words), capnp::AllocationStrategy::FIXED_SIZE);
    auto img = mb.initRoot<im::Image>();
    fill_process(img.initProcess(), f);
    auto itv = img.getProcess().initItimers(3);
    for (unsigned w = 0; w < 3; ++w) {
      itv[w].setIntervalUs(uint64_t(c.itimers[w][0]));
      itv[w].setValueUs(uint64_t(c.itimers[w][1]));
    }
    auto vmas = img.initVmas(unsigned(out.vma_count));
    for (unsigned i = 0; i < unsigned(out.vma_count); ++i) {
      const VmaRec& v = out.vmas[i];
      auto b = vmas[i];
      b.setStart(v.start);
      b.setEnd(v.end);
      b.setProt(v.prot);
      b.setShared(v.shared);
      b.setKind(vma_kind(v.kind));
      b.setFile(v.file);
      b.setFileOffset(v.file_offset);
      b.setName(v.name);
    }
    auto chunks = img.initChunks(unsigned(out.chunk_count));
    for (unsigned i = 0; i < unsigned(out.chunk_count); ++i) {
      const ChunkRec& r = out.chunks[i];
      chunks[i].setStart(r.start);
      chunks[i].setPages(r.pages);
      chunks[i].setOffset(r.offset);
      chunks[i].setHash(r.hash);
    }
    auto files = img.initFiles(unsigned(out.file_count));
    for (unsigned i = 0; i < unsigned(out.file_count); ++i) {
      const FileRec& r = out.files[i];
      auto b = files[i];
      b.setPath(r.path);
      b.setDev(r.dev);
      b.setIno(r.ino);
      b.setSize(r.size);
      b.setMtimeNs(r.mtime_ns);
      b.setBuildId(kj::arrayPtr(r.build_id, r.build_id_len));
      b.setContentHash(r.content_hash);
      b.setEmbedded(r.embedded);
    }
    auto fds = img.initFds(unsigned(out.fd_count));
    for (unsigned i = 0; i < unsigned(out.fd_count); ++i) {
      const FdRec& r = out.fds[i];
      auto b = fds[i];
      b.setFd(r.fd);
      b.setKind(fd_kind(r.kind));
      b.setPath(r.path);
      b.setFlags(r.flags);
      b.setOffset(r.offset);
      b.setSameAs(r.same_as);
      b.setDev(r.dev);
      b.setIno(r.ino);
      b.setSize(r.size);
      b.setMtimeNs(r.mtime_ns);
      b.setBlob(r.blob);
      b.setPipeSize(r.pipe_size);
      if (r.watch_count > 0) {
        auto w = b.initEpollWatches(unsigned(r.watch_count));
        for (unsigned k = 0; k < unsigned(r.watch_count); ++k) {
          w[k].setFd(r.watches[k].fd);
          w[k].setEvents(r.watches[k].events);
          w[k].setData(r.watches[k].data);
        }
      }
      b.setEventfdCount(r.eventfd_count);
      b.setEventfdSemaphore(r.eventfd_semaphore);
    }
    auto threads = img.initThreads(unsigned(c.thread_count));
    for (unsigned i = 0; i < unsigned(c.thread_count); ++i) {
      const CkptThread& t = c.threads[i];
      auto b = threads[i];
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
    auto sa = img.initSigactions(64);
    for (unsigned i = 0; i < 64; ++i) {
      sa[i].setHandler(f.sigactions[i][0]);
      sa[i].setFlags(f.sigactions[i][1]);
      sa[i].setRestorer(f.sigactions[i][2]);
      sa[i].setMask(f.sigactions[i][3]);
    }
    auto k = img.initKernel();
    k.setRelease(f.release);
    k.initVvar().setStart(out.special.vvar_start);
    k.getVvar().setEnd(out.special.vvar_end);
    k.initVvarVclock().setStart(out.special.vclock_start);
    k.getVvarVclock().setEnd(out.special.vclock_end);
    k.initVdso().setStart(out.special.vdso_start);
    k.getVdso().setEnd(out.special.vdso_end);
    k.setVdsoHash(out.special.vdso_hash);
    auto cpu = img.initCpu();
    cpu.setXcr0(f.xcr0);
    cpu.setXfeatures(c.thread_count ? c.threads[0].xfeatures : 0);
    cpu.setXstateSize(c.thread_count ? c.threads[0].xstate_size : 0);
    cpu.setHwcap(f.hwcap);
    cpu.setHwcap2(f.hwcap2);
    auto blobs = img.initBlobs(unsigned(out.blob_count));
    for (unsigned i = 0; i < unsigned(out.blob_count); ++i) {
      blobs[i].setOffset(out.blobs[i].offset);
      blobs[i].setSize(out.blobs[i].size);
      blobs[i].setHash(out.blobs[i].hash);
    }
    auto segs = mb.getSegmentsForOutput();
    if (segs.size() != 1 || segs[0].begin() != seg + 1) return -ENOMEM;
    auto* table = reinterpret_cast<uint32_t*>(seg);
    table[0] = 0;  // one segment
    table[1] = uint32_t(segs[0].size());
    *len = (segs[0].size() + 1) * sizeof(capnp::word);
    *hash = hash_bytes(seg, *len);
    int err = 0;
    return out_write(out, seg, *len, &err) ? 0 : -err;
  } catch (...) {
    return -ENOMEM;
  }
}

}  // namespace vproc::lib
