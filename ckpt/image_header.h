// The fixed header at offset 0 of a checkpoint image (see image.capnp for the
// whole layout). A plain struct so the in-process writer (no allocation) and
// every reader agree on it byte for byte; readers check `header_hash` before
// trusting any field, and the metadata hash before parsing the metadata.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vproc::image {

inline constexpr char kImageMagic[8] = {'V', 'P', 'R', 'O', 'C', 'I', 'M', 'G'};
// Bump on any incompatible change to this header or to image.capnp.
inline constexpr uint32_t kImageVersion = 1;
inline constexpr uint32_t kImagePage = 4096;
inline constexpr uint32_t kArchX86_64 = 62;  // ELF e_machine EM_X86_64
inline constexpr uint64_t kDataOffset = kImagePage;  // first chunk's offset
// Chunks are split at this size so a hash covers a bounded run (and a reader can
// verify a region without reading unrelated data).
inline constexpr uint32_t kMaxChunkPages = 1024;  // 4 MiB
// Upper bound on the metadata a reader accepts (a corrupted size must not make
// it map or allocate gigabytes).
inline constexpr uint64_t kMaxMetaBytes = 256ull << 20;

enum ImageFlags : uint32_t {
  kFlagEmbeddedFiles = 1,  // file-backed pages are stored, not referenced
};

struct ImageHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;   // sizeof(ImageHeader)
  uint32_t arch;          // kArchX86_64
  uint32_t page_size;     // kImagePage
  uint32_t flags;         // ImageFlags
  uint32_t reserved0;
  uint64_t meta_offset;   // page-aligned, after the data
  uint64_t meta_size;     // bytes of the Cap'n Proto message (a multiple of 8)
  uint64_t meta_hash;     // XXH3-64 of the metadata bytes
  uint64_t data_bytes;    // bytes of page data stored (sum of chunks and blobs)
  uint64_t file_size;     // total size of the image file
  uint32_t vpid;          // for listing without parsing the metadata
  uint32_t reserved1;
  uint64_t header_hash;   // XXH3-64 of every byte before this field
};
static_assert(sizeof(ImageHeader) == 88);
static_assert(offsetof(ImageHeader, header_hash) == 80);

}  // namespace vproc::image
