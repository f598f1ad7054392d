// What the snapshot writer collects before it encodes the metadata: plain
// records in its scratch memory (ckpt_memory.cc, ckpt_fds.cc), turned into the
// Cap'n Proto message by ckpt_meta.cc.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ckpt_maps.h"
#include "ckpt_scratch.h"

namespace vproc::lib {

// Mirrors image.capnp Vma.Kind.
enum class VmaKind : uint8_t { Anonymous, File, Stack, Heap, Reserved, SharedFile };
// Mirrors image.capnp Fd.Kind.
enum class FdKind : uint8_t {
  Regular, Deleted, Directory, DevNull, DevZero, DevUrandom, DevRandom, Tty, Stdio, Pipe, Epoll, Eventfd
};

struct VmaRec {
  uint64_t start, end;
  uint32_t prot;
  bool shared;
  VmaKind kind;
  int32_t file;  // index into files, -1
  uint64_t file_offset;
  const char* name;
};

struct ChunkRec {
  uint64_t start;
  uint32_t pages;
  uint64_t offset, hash;
};

struct BlobRec {
  uint64_t offset, size, hash;
};

struct FileRec {
  const char* path;
  uint64_t dev, ino, size;
  int64_t mtime_ns;
  uint8_t build_id[64];
  uint32_t build_id_len;
  uint64_t content_hash;
  bool embedded;
};

// One registration of an epoll instance (image.capnp EpollWatch).
struct EpollRec {
  int32_t fd;
  uint32_t events;
  uint64_t data;
};

struct FdRec {
  int32_t fd;
  FdKind kind;
  bool refused;  // named in ImageOut::refusals
  const char* path;
  uint32_t flags;
  uint64_t offset;
  int32_t same_as;
  uint64_t dev, ino, size;
  int64_t mtime_ns;
  int32_t blob;
  // Pipe: its capacity and the bytes buffered in it at the checkpoint
  // (scratch memory); pipe_first is the index of its lowest fd in ImageOut::fds.
  uint32_t pipe_size;
  const char* pipe_data;
  uint64_t pipe_len;
  int32_t pipe_first;
  // Epoll: its registrations (none on a duplicate: they belong to the description).
  EpollRec* watches;
  int watch_count;
  // Eventfd.
  uint64_t eventfd_count;
  bool eventfd_semaphore;
};

// Why a checkpoint cannot be taken: one line per resource, collected so the
// refusal names all of them at once.
struct Refusals {
  char text[2048];
  size_t len = 0;
  int count = 0;
  void add(const char* a, const char* b = "", const char* c = "", const char* d = "");
};

struct SpecialRanges {
  uint64_t vvar_start = 0, vvar_end = 0, vclock_start = 0, vclock_end = 0;
  uint64_t vdso_start = 0, vdso_end = 0, vdso_hash = 0;
};

// The image being written: output file, position, and what was collected.
struct ImageOut {
  int fd = -1;
  uint64_t pos = 0;  // next free byte (page-aligned between chunks)
  uint64_t data_bytes = 0;
  bool embed_files = false;
  uint64_t image_dev = 0, image_ino = 0;  // lazily restored memory of this inode is ours

  VmaRec* vmas = nullptr;
  int vma_count = 0;
  ChunkRec* chunks = nullptr;
  size_t chunk_count = 0, chunk_cap = 0;
  FileRec* files = nullptr;
  int file_count = 0;
  FdRec* fds = nullptr;
  int fd_count = 0;
  BlobRec* blobs = nullptr;
  int blob_count = 0;
  SpecialRanges special;
  Refusals refusals;
};

// Writes `len` bytes at the current position; false on a write error (errno in *err).
bool out_write(ImageOut& out, const void* p, size_t len, int* err);
// Pads the output to the next page boundary.
bool out_align(ImageOut& out, int* err);

// ckpt_memory.cc: classifies every mapping, stores the pages that need it.
// Returns 0 or -errno (refusals are collected in out.refusals, not errors).
// `skip` holds `skip_count` [start, end) ranges that are ours, not the program's.
int capture_memory(Scratch& s, const MapList& maps, ImageOut& out, const uint64_t (*skip)[2], int skip_count);
// ckpt_fds.cc: the fd table, deleted files' contents as blobs. 0 or -errno.
int capture_fds(Scratch& s, ImageOut& out, const int* ignore, int ignore_count);
// Stores a deleted file's contents (ckpt_fds.cc), after the page data.
int store_deleted_contents(ImageOut& out);
// ckpt_pipes.cc: pipes with both ends in the process become FdKind::Pipe with
// their buffered bytes read (without consuming them); the others are stdio
// (fds 0-2) or refused. Called by capture_fds once the table is read. 0 or -errno.
int capture_pipes(Scratch& s, ImageOut& out);
// Stores each pipe's buffered bytes as a blob. 0 or -errno.
int store_pipe_contents(ImageOut& out);
// ckpt_epoll.cc: R's registrations from its fdinfo text. 0 or -ENOMEM.
int read_epoll_watches(Scratch& s, FdRec& r, const char* info);
// Refuses registrations of fds that are not (or no longer) the watched file,
// or that cannot be saved. After capture_pipes (kinds are final).
void check_epoll_watches(ImageOut& out);

// XXH3-64 of a byte range (ckpt_hash.cc: xxHash built in, header-only).
uint64_t hash_bytes(const void* p, size_t len);
// XXH3-64 over data that arrives in pieces (same result as hash_bytes of all).
class HashStream {
 public:
  HashStream();
  void update(const void* p, size_t len);
  uint64_t digest();

 private:
  alignas(64) unsigned char state_[640];  // XXH3_state_t, checked in ckpt_hash.cc
};

}  // namespace vproc::lib
