#include "image_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "host_file.h"
#include "image_check.h"
#include "image_decode.h"
#include "range_hasher.h"

namespace vproc::image {
namespace {

std::string arch_name(uint32_t machine) {
  switch (machine) {
    case 3: return "i386";
    case 40: return "ARM";
    case 62: return "x86-64";
    case 183: return "AArch64";
    case 243: return "RISC-V";
    case 21: return "PowerPC64";
    case 22: return "s390";
  }
  return "unknown";
}

// Reads up to LEN bytes at OFFSET; fewer only at end of file or on an error.
size_t pread_full(int fd, char* out, size_t len, uint64_t offset) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, out + got, len - got, off_t(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += size_t(n);
  }
  return got;
}

}  // namespace

ImageFile ImageFile::open(const std::string& path) {
  ImageFile f;
  f.path_ = path;
  f.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd_ < 0) f.fail(std::string("cannot open: ") + strerror(errno));
  struct stat st;
  if (fstat(f.fd_, &st) != 0) f.fail(std::string("cannot stat: ") + strerror(errno));
  if (!S_ISREG(st.st_mode)) f.fail("not a vproc checkpoint image (not a regular file)");
  f.file_size_ = uint64_t(st.st_size);
  f.load();
  return f;
}

ImageFile::ImageFile(ImageFile&& o) noexcept { *this = std::move(o); }

ImageFile& ImageFile::operator=(ImageFile&& o) noexcept {
  std::swap(path_, o.path_);
  std::swap(fd_, o.fd_);
  std::swap(file_size_, o.file_size_);
  std::swap(image_, o.image_);
  std::swap(file_fds_, o.file_fds_);
  return *this;
}

ImageFile::~ImageFile() {
  for (int fd : file_fds_)
    if (fd >= 0) close(fd);
  if (fd_ >= 0) close(fd_);
}

void ImageFile::fail(const std::string& why) const { throw ImageError(path_ + ": " + why); }

void ImageFile::load() {
  char page[kImagePage];
  size_t got = pread_full(fd_, page, std::min<uint64_t>(file_size_, sizeof page), 0);
  if (got < std::min<uint64_t>(file_size_, sizeof page)) fail(std::string("cannot read: ") + strerror(errno));
  if (got < sizeof kImageMagic || memcmp(page, kImageMagic, sizeof kImageMagic) != 0)
    fail("not a vproc checkpoint image (bad magic)");
  if (got < kImagePage)
    fail("truncated: " + std::to_string(file_size_) + " bytes, shorter than the image header");
  ImageHeader h;
  memcpy(&h, page, sizeof h);
  if (h.version != kImageVersion)
    fail("image format version " + std::to_string(h.version) + ", this vproc reads version " +
         std::to_string(kImageVersion));
  if (h.arch != kArchX86_64)
    fail("image is for architecture " + std::to_string(h.arch) + " (" + arch_name(h.arch) +
         "), this machine is x86-64");
  if (h.page_size != kImagePage)
    fail("image page size " + std::to_string(h.page_size) + ", this vproc uses " + std::to_string(kImagePage));
  if (XXH3_64bits(&h, offsetof(ImageHeader, header_hash)) != h.header_hash) fail("header corrupted (hash mismatch)");
  // From here on the header is as the writer wrote it: a mismatch is a writer
  // bug or a damaged file, not a bit flip in the header.
  if (h.header_size != sizeof(ImageHeader))
    fail("header corrupted (header size " + std::to_string(h.header_size) + ", expected " +
         std::to_string(sizeof(ImageHeader)) + ")");
  if (h.flags & ~uint32_t(kFlagEmbeddedFiles)) fail("unknown image flags " + hex(h.flags));
  if (h.file_size > file_size_)
    fail("truncated: header says " + std::to_string(h.file_size) + " bytes, file has " + std::to_string(file_size_));
  if (h.file_size < file_size_)
    fail("header says " + std::to_string(h.file_size) + " bytes, file has " + std::to_string(file_size_) +
         " (data appended)");
  if (h.meta_offset % kImagePage != 0 || h.meta_offset < kDataOffset || h.meta_offset > file_size_)
    fail("header corrupted (metadata offset " + hex(h.meta_offset) + " in a file of " + std::to_string(file_size_) +
         " bytes)");
  if (h.meta_size == 0 || h.meta_size % 8 != 0 || h.meta_size > kMaxMetaBytes ||
      h.meta_size > file_size_ - h.meta_offset)
    fail("header corrupted (metadata size " + std::to_string(h.meta_size) + " at " + hex(h.meta_offset) +
         " in a file of " + std::to_string(file_size_) + " bytes)");
  if (h.data_bytes > h.meta_offset - kDataOffset)
    fail("header corrupted (" + std::to_string(h.data_bytes) + " bytes of page data before offset " +
         hex(h.meta_offset) + ")");

  // uint64_t storage: Cap'n Proto reads the message in place, in 8-byte words.
  std::unique_ptr<uint64_t[]> meta(new uint64_t[h.meta_size / 8]);
  char* bytes = reinterpret_cast<char*>(meta.get());
  if (pread_full(fd_, bytes, h.meta_size, h.meta_offset) != h.meta_size)
    fail(std::string("cannot read the metadata: ") + (errno ? strerror(errno) : "short read"));
  if (XXH3_64bits(bytes, h.meta_size) != h.meta_hash) fail("metadata corrupted (hash mismatch)");
  image_.header = h;
  decode_metadata(path_, bytes, h.meta_size, (h.meta_offset - kDataOffset) / kImagePage, image_);
  check_model(path_, image_);
  file_fds_.assign(image_.files.size(), -2);
}

void ImageFile::verify_data() const {
  // Chunks, then blobs, each named as the user sees it if it is the first bad one.
  const auto& chunks = image_.chunks;
  const auto& blobs = image_.blobs;
  std::vector<HashedRange> ranges;
  ranges.reserve(chunks.size() + blobs.size());
  for (const Chunk& c : chunks) ranges.push_back({c.offset, c.bytes(), c.hash});
  for (const Blob& b : blobs) ranges.push_back({b.offset, b.size, b.hash});
  std::optional<RangeFailure> bad = check_range_hashes(fd_, file_size_, ranges);
  if (!bad) return;
  size_t i = bad->index;
  std::string name = i < chunks.size() ? "chunk " + std::to_string(i) + " at " + hex(chunks[i].start)
                                       : "blob " + std::to_string(i - chunks.size());
  fail(name + (bad->unreadable ? ": cannot read it" : ": data corrupted (hash mismatch)"));
}

std::string ImageFile::read_blob(const Blob& b) const {
  std::string out(b.size, '\0');
  if (b.offset > file_size_ || b.size > file_size_ - b.offset || pread_full(fd_, out.data(), b.size, b.offset) != b.size)
    fail("blob at offset " + hex(b.offset) + ": cannot read it");
  if (XXH3_64bits(out.data(), out.size()) != b.hash) fail("blob at offset " + hex(b.offset) + ": data corrupted (hash mismatch)");
  return out;
}

const Vma* ImageFile::find_vma(uint64_t addr) const {
  const auto& v = image_.vmas;
  auto it = std::upper_bound(v.begin(), v.end(), addr, [](uint64_t a, const Vma& m) { return a < m.start; });
  if (it == v.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

bool ImageFile::read_image(uint64_t offset, char* out, size_t len) const {
  return pread_full(fd_, out, len, offset) == len;
}

bool ImageFile::read_file(int32_t file, uint64_t offset, char* out, size_t len) const {
  if (file < 0 || size_t(file) >= file_fds_.size() || image_.files[file].embedded) return false;
  int& fd = file_fds_[file];
  if (fd == -2) check_host_file(image_.files[file], &fd);
  if (fd < 0) return false;
  size_t got = pread_full(fd, out, len, offset);
  if (got == len) return true;
  // The page holding end of file reads as zeros past it; beyond that page the
  // process itself would have got SIGBUS.
  uint64_t eof = offset + got;
  uint64_t eof_page_end = (eof + kImagePage - 1) / kImagePage * kImagePage;
  if (offset + len > eof_page_end) return false;
  memset(out + got, 0, len - got);
  return true;
}

bool ImageFile::read_memory(uint64_t addr, void* out, size_t len) const {
  char* dst = static_cast<char*>(out);
  if (addr >= kUserAddressEnd || len > kUserAddressEnd - addr) return false;
  const auto& chunks = image_.chunks;
  while (len > 0) {
    const Vma* v = find_vma(addr);
    if (!v) return false;
    size_t n = std::min<uint64_t>(len, v->end - addr);
    // The stored chunk at addr, or the next one above it.
    auto next = std::upper_bound(chunks.begin(), chunks.end(), addr,
                                 [](uint64_t a, const Chunk& c) { return a < c.start; });
    if (next != chunks.begin() && addr < std::prev(next)->end()) {
      const Chunk& c = *std::prev(next);
      n = std::min<uint64_t>(n, c.end() - addr);
      if (!read_image(c.offset + (addr - c.start), dst, n)) return false;
    } else {
      if (next != chunks.end()) n = std::min<uint64_t>(n, next->start - addr);
      if (v->kind == VmaKind::File || v->kind == VmaKind::SharedFile) {
        if (!read_file(v->file, v->file_offset + (addr - v->start), dst, n)) return false;
      } else {
        memset(dst, 0, n);  // never written since mapped: the kernel's zero pages
      }
    }
    addr += n;
    dst += n;
    len -= n;
  }
  return true;
}

}  // namespace vproc::image
