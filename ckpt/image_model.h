// A checkpoint image as plain C++ values: what image_reader.cc makes of the
// Cap'n Proto metadata (image.capnp), so that the rest of the tools never see
// the generated code. Field meanings are documented in image.capnp.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "image_header.h"

namespace vproc::image {

struct Range {
  uint64_t start = 0, end = 0;
  uint64_t size() const { return end - start; }
  bool empty() const { return end <= start; }
};

struct MmLayout {
  uint64_t start_code = 0, end_code = 0, start_data = 0, end_data = 0;
  uint64_t start_brk = 0, brk = 0, start_stack = 0;
  uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
};

struct Rlimit {
  uint64_t cur = 0, max = 0;
};

struct Itimer {
  uint64_t interval_us = 0, value_us = 0;
};

struct ProcessInfo {
  uint32_t vpid = 0, parent_vpid = 0, node_index = 0, uid = 0, gid = 0, real_pid = 0;
  std::string exe_path;
  std::vector<std::string> argv;
  std::string cwd;
  uint32_t umask = 0, personality = 0;
  std::vector<Rlimit> rlimits;
  MmLayout mm;
  std::vector<uint8_t> auxv;
  std::vector<Itimer> itimers;
  std::string comm;
  uint64_t wall_time_ns = 0, monotonic_ns = 0, frozen_ns = 0, state_addr = 0;
  uint32_t generation = 0;
  std::string hostname;
};

struct KernelInfo {
  std::string release;
  Range vvar, vvar_vclock, vdso;
  uint64_t vdso_hash = 0;
};

struct CpuInfo {
  uint64_t xcr0 = 0, xfeatures = 0;
  uint32_t xstate_size = 0;
  uint64_t hwcap = 0, hwcap2 = 0;
};

enum class VmaKind { Anonymous, File, Stack, Heap, Reserved, SharedFile };

struct Vma {
  uint64_t start = 0, end = 0;
  uint32_t prot = 0;
  bool shared = false;
  VmaKind kind = VmaKind::Anonymous;
  int32_t file = -1;  // index into Image::files
  uint64_t file_offset = 0;
  std::string name;
};

struct Chunk {
  uint64_t start = 0;  // virtual address
  uint32_t pages = 0;
  uint64_t offset = 0;  // in the image file
  uint64_t hash = 0;
  uint64_t bytes() const { return uint64_t(pages) * kImagePage; }
  uint64_t end() const { return start + bytes(); }
};

struct Blob {
  uint64_t offset = 0, size = 0, hash = 0;
};

struct MappedFile {
  std::string path;
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0;
  std::vector<uint8_t> build_id;
  uint64_t content_hash = 0;
  bool embedded = false;
};

enum class FdKind {
  Regular, Deleted, Directory, DevNull, DevZero, DevUrandom, DevRandom, Tty, Stdio, Pipe, Epoll, Eventfd
};

struct EpollWatch {
  int32_t fd = -1;
  uint32_t events = 0;
  uint64_t data = 0;
};

struct Fd {
  int32_t fd = -1;
  FdKind kind = FdKind::Regular;
  std::string path;
  uint32_t flags = 0;
  uint64_t offset = 0;
  int32_t same_as = -1;
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0;
  int32_t blob = -1;
  uint32_t pipe_size = 0;
  std::vector<EpollWatch> epoll_watches;
  uint64_t eventfd_count = 0;
  bool eventfd_semaphore = false;
};

struct ResumeRegs {
  uint64_t rip = 0, rsp = 0, rbx = 0, rbp = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
};

struct Thread {
  uint32_t tid = 0, vtid = 0;
  uint64_t fs_base = 0, gs_base = 0;
  ResumeRegs resume;
  uint64_t frame = 0, ip = 0, sp = 0, bp = 0, sigmask = 0;
  uint64_t tid_address = 0, robust_list = 0, robust_len = 0;
  uint64_t rseq_area = 0;
  uint32_t rseq_len = 0, rseq_sig = 0;
  std::string comm;
};

struct SigAction {
  uint64_t handler = 0, flags = 0, restorer = 0, mask = 0;
};

struct Image {
  ImageHeader header{};
  ProcessInfo process;
  std::vector<Vma> vmas;
  std::vector<Chunk> chunks;
  std::vector<MappedFile> files;
  std::vector<Fd> fds;
  std::vector<Thread> threads;
  std::vector<SigAction> sigactions;  // 64 entries
  KernelInfo kernel;
  CpuInfo cpu;
  std::vector<Blob> blobs;
};

const char* to_string(VmaKind k);
const char* to_string(FdKind k);

}  // namespace vproc::image
