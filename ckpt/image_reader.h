// Opening and validating a checkpoint image (tools context: throws).
//
// Everything a reader needs before trusting an image is checked here, in this
// order, so that a bad image is refused with a message naming what is wrong
// before anything is mapped: file size, magic, version, architecture, page
// size, header hash, metadata bounds and hash, Cap'n Proto structure (with a
// traversal limit), then the model's own consistency (sorted non-overlapping
// vmas, chunks page-aligned, inside the file, inside a vma, indexes in range).
// Page data hashes are checked by verify_data(), which reads all of it.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "image_model.h"

namespace vproc::image {

// The image is unusable; what() says why, in words for the user.
struct ImageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class ImageFile {
 public:
  // Opens, validates and parses PATH; throws ImageError.
  static ImageFile open(const std::string& path);
  ImageFile(ImageFile&&) noexcept;
  ImageFile& operator=(ImageFile&&) noexcept;
  ImageFile(const ImageFile&) = delete;
  ~ImageFile();

  const Image& image() const { return image_; }
  const std::string& path() const { return path_; }
  int fd() const { return fd_; }  // open read-only, O_CLOEXEC
  uint64_t file_size() const { return file_size_; }

  // Reads every chunk and blob and checks its hash; throws ImageError naming
  // the first one (chunks, then blobs, in order) that does not match. All
  // cores hash at once, straight from the page cache (range_hasher.h).
  void verify_data() const;
  // Reads LEN bytes of the checkpointed process's memory at ADDR into OUT: from
  // stored chunks, zeros for unstored anonymous pages, the referenced file for
  // unstored file-backed pages. False if any byte is outside every vma or the
  // file cannot be read.
  bool read_memory(uint64_t addr, void* out, size_t len) const;
  // Reads a blob's bytes (deleted files' contents); throws ImageError.
  std::string read_blob(const Blob& b) const;

 private:
  ImageFile() = default;
  void load();  // the checks above, in order
  [[noreturn]] void fail(const std::string& why) const;
  const Vma* find_vma(uint64_t addr) const;
  bool read_file(int32_t file, uint64_t offset, char* out, size_t len) const;
  bool read_image(uint64_t offset, char* out, size_t len) const;

  std::string path_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  Image image_;
  // Per Image::files entry, opened on first read_memory from it: an fd, or -1
  // if the host's file is missing or differs (-2: not tried yet).
  mutable std::vector<int> file_fds_;
};

}  // namespace vproc::image
