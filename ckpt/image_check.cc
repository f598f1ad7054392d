#include "image_check.h"

#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "image_reader.h"

namespace vproc::image {
namespace {

bool page_aligned(uint64_t v) { return v % kImagePage == 0; }
bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

struct Checker {
  const std::string& who;
  const Image& img;

  [[noreturn]] void fail(const std::string& why) const { throw ImageError(who + ": " + why); }

  static std::string vma_name(size_t i, const Vma& v) {
    return "vma " + std::to_string(i) + " at " + hex(v.start) + "-" + hex(v.end);
  }
  static std::string chunk_name(size_t i, const Chunk& c) { return "chunk " + std::to_string(i) + " at " + hex(c.start); }

  void vmas() const {
    const size_t nfiles = img.files.size();
    for (size_t i = 0; i < img.vmas.size(); ++i) {
      const Vma& v = img.vmas[i];
      if (v.start >= v.end || v.end > kUserAddressEnd) fail(vma_name(i, v) + ": not a valid address range");
      if (!page_aligned(v.start) || !page_aligned(v.end)) fail(vma_name(i, v) + ": not page-aligned");
      if (v.prot & ~7u) fail(vma_name(i, v) + ": unknown protection bits " + hex(v.prot));
      if (i > 0 && v.start < img.vmas[i - 1].end)
        fail(vma_name(i, v) + ": overlaps or precedes " + vma_name(i - 1, img.vmas[i - 1]));
      if (v.file < -1 || (v.file >= 0 && size_t(v.file) >= nfiles))
        fail(vma_name(i, v) + ": file index " + std::to_string(v.file) + " out of range (" +
             std::to_string(nfiles) + " files)");
      bool file_kind = v.kind == VmaKind::File || v.kind == VmaKind::SharedFile;
      if (file_kind && v.file < 0) fail(vma_name(i, v) + ": " + to_string(v.kind) + " mapping without a file");
      if (!file_kind && v.kind != VmaKind::Reserved && v.file >= 0)
        fail(vma_name(i, v) + ": " + to_string(v.kind) + " mapping with a file");
      if (v.file >= 0 && !page_aligned(v.file_offset))
        fail(vma_name(i, v) + ": file offset " + hex(v.file_offset) + " not page-aligned");
    }
  }

  // Page data lives in [kDataOffset, meta_offset).
  void stored_range(const std::string& name, uint64_t offset, uint64_t size) const {
    const ImageHeader& h = img.header;
    if (!page_aligned(offset)) fail(name + ": offset " + hex(offset) + " in the image file is not page-aligned");
    if (offset > img.header.file_size || size > h.file_size - offset)
      fail(name + ": outside the image file (offset " + hex(offset) + ", " + std::to_string(size) +
           " bytes, file has " + std::to_string(h.file_size) + ")");
    if (offset < kDataOffset || offset + size > h.meta_offset)
      fail(name + ": outside the image's data area (offset " + hex(offset) + ", " + std::to_string(size) + " bytes)");
  }

  void chunks() const {
    size_t v = 0;  // the vma where the chunk's next page should be
    const auto& vmas = img.vmas;
    for (size_t i = 0; i < img.chunks.size(); ++i) {
      const Chunk& c = img.chunks[i];
      const std::string name = chunk_name(i, c);
      if (c.pages == 0 || c.pages > kMaxChunkPages) fail(name + ": " + std::to_string(c.pages) + " pages");
      if (c.start > kUserAddressEnd || !page_aligned(c.start)) fail(name + ": not a page-aligned user address");
      stored_range(name, c.offset, c.bytes());
      if (i > 0 && c.start < img.chunks[i - 1].end()) fail(name + ": overlaps or precedes the previous chunk");
      // Every page inside a vma (a chunk may run on across adjacent vmas).
      for (uint64_t a = c.start; a < c.end();) {
        while (v < vmas.size() && vmas[v].end <= a) ++v;
        if (v == vmas.size() || vmas[v].start > a) fail(name + ": page " + hex(a) + " is in no vma");
        a = vmas[v].end;
      }
    }
  }

  // The header's data_bytes is documented as chunks plus blobs; libvproc's
  // writer counts the chunks only. Both are accepted.
  void data_bytes() const {
    uint64_t chunks = 0, blobs = 0;
    for (const Chunk& c : img.chunks) chunks += c.bytes();
    for (size_t i = 0; i < img.blobs.size(); ++i) {
      const Blob& b = img.blobs[i];
      stored_range("blob " + std::to_string(i), b.offset, b.size);
      blobs += b.size;
    }
    const uint64_t said = img.header.data_bytes;
    if (said != chunks && said != chunks + blobs)
      fail("header says " + std::to_string(said) + " bytes of page data, the chunks hold " + std::to_string(chunks) +
           " and the blobs " + std::to_string(blobs));
  }

  void files() const {
    for (size_t i = 0; i < img.files.size(); ++i) {
      const MappedFile& f = img.files[i];
      if (f.path.empty() || f.path[0] != '/' || has_nul(f.path))
        fail("file " + std::to_string(i) + ": not an absolute path");
      if (f.build_id.size() > 256) fail("file " + std::to_string(i) + ": build-id of " +
                                        std::to_string(f.build_id.size()) + " bytes");
    }
  }

  void fds() const {
    for (size_t i = 0; i < img.fds.size(); ++i) {
      const Fd& f = img.fds[i];
      const std::string name = "fd " + std::to_string(f.fd);
      if (f.fd < 0 || (i > 0 && f.fd <= img.fds[i - 1].fd)) fail(name + ": fds not in ascending order");
      if (has_nul(f.path)) fail(name + ": path contains a NUL byte");
      // fds[0..i) are sorted (checked above): a binary search, not a scan of
      // a million fds for each of a million fds.
      auto lower = std::lower_bound(img.fds.begin(), img.fds.begin() + i, f.same_as,
                                    [](const Fd& a, int32_t fd) { return a.fd < fd; });
      if (f.same_as != -1 && (lower == img.fds.begin() + i || lower->fd != f.same_as))
        fail(name + ": shares a file with fd " + std::to_string(f.same_as) + ", not a lower fd of the image");
      if (f.blob < -1 || (f.blob >= 0 && size_t(f.blob) >= img.blobs.size()))
        fail(name + ": blob index " + std::to_string(f.blob) + " out of range");
    }
    watches();
    pipes();
  }

  // After fds(): the table is sorted, so a watched fd is found by binary search.
  void watches() const {
    for (const Fd& f : img.fds)
      for (const EpollWatch& w : f.epoll_watches) {
        auto it = std::lower_bound(img.fds.begin(), img.fds.end(), w.fd,
                                   [](const Fd& a, int32_t n) { return a.fd < n; });
        if (w.fd == f.fd || it == img.fds.end() || it->fd != w.fd)
          fail("fd " + std::to_string(f.fd) + ": its epoll instance watches fd " + std::to_string(w.fd) +
               ", which the image does not have");
      }
  }

  // The fds of one pipe (same inode) agree on its size and contents, and
  // include a read end and a write end: restore makes the pipe from nothing.
  void pipes() const {
    std::vector<const Fd*> p;
    for (const Fd& f : img.fds)
      if (f.kind == FdKind::Pipe) p.push_back(&f);
    std::stable_sort(p.begin(), p.end(),
                     [](const Fd* a, const Fd* b) { return std::tie(a->dev, a->ino) < std::tie(b->dev, b->ino); });
    for (size_t i = 0; i < p.size();) {
      const Fd& f = *p[i];
      const std::string name = "fd " + std::to_string(f.fd);
      bool reads = false, writes = false;
      for (; i < p.size() && p[i]->dev == f.dev && p[i]->ino == f.ino; ++i) {
        const Fd& o = *p[i];
        if (o.pipe_size != f.pipe_size || o.blob != f.blob)
          fail(name + ": fds " + std::to_string(f.fd) + " and " + std::to_string(o.fd) +
               " of one pipe disagree on its size or contents");
        reads |= (o.flags & O_ACCMODE) != O_WRONLY;
        writes |= (o.flags & O_ACCMODE) != O_RDONLY;
      }
      if (!reads || !writes) fail(name + ": " + f.path + " has no " + (reads ? "write" : "read") + " end in the image");
      if (f.blob >= 0 && img.blobs[size_t(f.blob)].size > f.pipe_size)
        fail(name + ": " + std::to_string(img.blobs[size_t(f.blob)].size) + " bytes buffered in a pipe of " +
             std::to_string(f.pipe_size));
    }
  }

  void process() const {
    const ProcessInfo& p = img.process;
    if (p.vpid != img.header.vpid)
      fail("header says vpid " + std::to_string(img.header.vpid) + ", metadata says " + std::to_string(p.vpid));
    if (has_nul(p.exe_path) || has_nul(p.cwd)) fail("process paths contain a NUL byte");
    if (p.auxv.size() % 16 != 0) fail("auxv of " + std::to_string(p.auxv.size()) + " bytes (not pairs of words)");
    if (img.threads.empty()) fail("no threads");
    if (img.sigactions.size() != 64)
      fail(std::to_string(img.sigactions.size()) + " signal actions, expected 64");
    for (const Range* r : {&img.kernel.vvar, &img.kernel.vvar_vclock, &img.kernel.vdso})
      if (r->start > r->end || r->end > kUserAddressEnd || !page_aligned(r->start) || !page_aligned(r->end))
        fail("kernel mapping " + hex(r->start) + "-" + hex(r->end) + " is not a valid range");
  }
};

}  // namespace

std::string hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

void check_model(const std::string& who, const Image& img) {
  Checker c{who, img};
  c.process();
  c.vmas();
  c.files();
  c.chunks();
  c.data_bytes();
  c.fds();
}

}  // namespace vproc::image
