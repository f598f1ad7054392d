// Test helper: writes synthetic but valid checkpoint images (header, page
// data, Cap'n Proto metadata, correct hashes), or images with one chosen
// defect, so the reader's checks can be exercised without a live process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "image_model.h"

namespace vproc::test {

// What build() gets wrong on purpose.
enum class Defect {
  None,
  BadMagic,          // first byte of the magic changed
  WrongVersion,      // version 7 (header hash recomputed)
  ForeignArch,       // EM_ARM (header hash recomputed)
  Truncated,         // file cut in the middle of the metadata
  CorruptMeta,       // a metadata byte flipped (its hash not recomputed)
  CorruptHeader,     // a header byte flipped (its hash not recomputed)
  ChunkOutOfFile,    // chunk 1's offset far past the end of the file
  ChunkUnaligned,    // chunk 1's offset not page-aligned
  OverlappingVmas,   // vma 1 starts inside vma 0
  BadFileIndex,      // a file vma names a file that is not in the list
  CorruptChunkData,  // a byte of chunk 0's data flipped (only verify_data sees it)
};

class ImageBuilder {
 public:
  // A small process with every model field set to something other than its
  // default: five vmas (file, anonymous, heap, reserved, stack), four chunks,
  // one mapped file (/nonexistent/libsample.so), ten fds (among them a pipe
  // with buffered bytes, an eventfd and an epoll instance), two blobs, two
  // threads.
  static ImageBuilder sample();

  // The metadata. build() fills in the header, chunk offsets and hashes, blob
  // offsets and hashes; everything else is written as it is.
  vproc::image::Image model;

  // Adds a chunk with DATA (whole pages) at ADDR; chunks must be added in
  // address order. Returns its index.
  size_t add_chunk(uint64_t addr, std::string data);
  // Adds a blob; returns its index.
  size_t add_blob(std::string data);
  const std::string& chunk_data(size_t i) const { return chunk_data_[i]; }

  // The image file's bytes, and the model as written (header, offsets, hashes).
  std::string build(Defect d = Defect::None, vproc::image::Image* written = nullptr) const;
  void write(const std::string& path, Defect d = Defect::None) const;

 private:
  std::vector<std::string> chunk_data_, blob_data_;
};

// The metadata message of IMG (flat, unpacked; as the writer stores it).
std::string encode_metadata(const vproc::image::Image& img);
// After the metadata bytes of a built image were changed in place: recomputes
// the metadata hash and then the header hash, so the reader gets as far as
// parsing the message.
void rehash_metadata(std::string& file);
// Recomputes just the header hash (after header fields were changed).
void rehash_header(std::string& file);
// Writes BYTES to PATH (replacing it); throws std::runtime_error on failure.
void write_file(const std::string& path, const std::string& bytes);

}  // namespace vproc::test
