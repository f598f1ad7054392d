#include "plan_builder.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "image_check.h"

namespace vproc::restore {
namespace {

using image::hex;
using image::Image;
using image::Vma;
using image::VmaKind;

constexpr uint64_t kPage = image::kImagePage;
// Where mmap's search ends on x86-64 with 4-level paging (TASK_SIZE): the
// plan stays below it even if the image has higher mappings (5-level).
constexpr uint64_t kUserEnd = 0x7ffffffff000ull;
constexpr uint64_t kLowest = 0x10000;  // vm.mmap_min_addr's usual value

uint64_t page_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }
uint64_t align8(uint64_t v) { return (v + 7) & ~7ull; }

std::string range(uint64_t a, uint64_t b) { return hex(a) + "-" + hex(b); }

// Stored pages contiguous both in memory and in the image file: one op each.
struct Run {
  uint64_t start, bytes, offset;
};

// The chunks of each vma, merged into runs (both lists are sorted).
std::vector<std::vector<Run>> runs_per_vma(const Image& img) {
  std::vector<std::vector<Run>> out(img.vmas.size());
  size_t v = 0;
  for (const image::Chunk& c : img.chunks) {
    while (v < img.vmas.size() && img.vmas[v].end <= c.start) ++v;
    if (v == img.vmas.size() || c.start < img.vmas[v].start || c.end() > img.vmas[v].end)
      throw RestoreError("the image stores pages at " + range(c.start, c.end()) + " outside its memory map");
    std::vector<Run>& runs = out[v];
    if (!runs.empty() && runs.back().start + runs.back().bytes == c.start &&
        runs.back().offset + runs.back().bytes == c.offset)
      runs.back().bytes += c.bytes();
    else
      runs.push_back({c.start, c.bytes(), c.offset});
  }
  return out;
}

// A vma whose base mapping comes from its file (else anonymous memory, which
// the chunks fill: embedded files are stored entirely).
bool maps_file(const Image& img, const Vma& v) {
  if (v.kind != VmaKind::File && v.kind != VmaKind::SharedFile) return false;
  if (img.header.flags & image::kFlagEmbeddedFiles) return false;
  return !img.files.at(size_t(v.file)).embedded;
}

// Per vma: map its chunks from the image (true) or read them in (false).
std::vector<bool> choose_lazy(const Image& img, const std::vector<std::vector<Run>>& runs, RestoreMode mode) {
  std::vector<bool> lazy(img.vmas.size(), false);
  if (mode == RestoreMode::Eager) return lazy;
  std::vector<size_t> candidates;
  uint64_t lazy_runs = 0;
  for (size_t i = 0; i < img.vmas.size(); ++i) {
    const Vma& v = img.vmas[i];
    if (runs[i].empty() || v.kind == VmaKind::Stack || (v.prot & PROT_EXEC)) continue;
    lazy[i] = true;
    lazy_runs += runs[i].size();
    candidates.push_back(i);
  }
  // Each lazy run may split its vma in three; drop the most fragmented first.
  uint64_t budget = img.vmas.size() < kMaxPlanMappings ? (kMaxPlanMappings - img.vmas.size()) / 2 : 0;
  std::sort(candidates.begin(), candidates.end(),
            [&](size_t a, size_t b) { return runs[a].size() > runs[b].size(); });
  for (size_t i : candidates) {
    if (lazy_runs <= budget) break;
    lazy[i] = false;
    lazy_runs -= runs[i].size();
  }
  return lazy;
}

struct OpList {
  std::vector<vproc_plan_op> ops;
  void add(uint32_t kind, uint64_t addr, uint64_t len, uint32_t prot, uint32_t flags, int fd, uint64_t offset) {
    vproc_plan_op op{};
    op.kind = kind;
    op.prot = prot;
    op.flags = flags;
    op.fd = fd;
    op.addr = addr;
    op.len = len;
    op.offset = offset;
    ops.push_back(op);
  }
};

int file_fd(const Image& img, const Vma& v, const PlanFds& fds) {
  size_t f = size_t(v.file);
  if (f >= fds.files.size() || fds.files[f] < 0)
    throw RestoreError("internal error: " + img.files[f].path + " was not opened for the restore");
  return fds.files[f];
}

// The ops of one vma; sets *maps_image when a chunk is mapped from the image.
void vma_ops(const Image& img, const Vma& v, const std::vector<Run>& runs, bool lazy, const PlanFds& fds,
             OpList& out, bool* maps_image) {
  const std::string where = "the " + std::string(image::to_string(v.kind)) + " mapping at " + range(v.start, v.end);
  const uint64_t len = v.end - v.start;
  if (v.kind == VmaKind::SharedFile) {
    if (!runs.empty()) throw RestoreError("the image stores pages of " + where + ", which is shared: not supported");
    if (v.prot & PROT_WRITE) throw RestoreError(where + " is writable: only read-only shared mappings can be restored");
    out.add(VPROC_OP_MAP_SHARED_FILE, v.start, len, v.prot, 0, file_fd(img, v, fds), v.file_offset);
    return;
  }
  // Eager filling needs write access until the pages are in. A reservation
  // may hold pages too (glibc keeps freed thread stacks as PROT_NONE).
  const bool fill = !runs.empty() && !lazy;
  const uint32_t base_prot = fill ? v.prot | PROT_WRITE : v.prot;
  const uint32_t flags = v.kind == VmaKind::Stack ? MAP_GROWSDOWN : v.kind == VmaKind::Reserved ? MAP_NORESERVE : 0;
  if (maps_file(img, v))
    out.add(VPROC_OP_MAP_FILE, v.start, len, base_prot, flags, file_fd(img, v, fds), v.file_offset);
  else
    out.add(VPROC_OP_MAP_ANON, v.start, len, base_prot, flags, -1, 0);
  const uint32_t chunk_op = lazy ? VPROC_OP_MAP_IMAGE : VPROC_OP_READ_IMAGE;
  for (const Run& r : runs) out.add(chunk_op, r.start, r.bytes, v.prot, 0, fds.image, r.offset);
  if (lazy && !runs.empty()) *maps_image = true;
  if (fill && base_prot != v.prot) out.add(VPROC_OP_PROTECT, v.start, len, v.prot, 0, -1, 0);
}

}  // namespace

std::vector<bool> files_to_open(const Image& img) {
  std::vector<bool> need(img.files.size(), false);
  // A shared mapping is of the file itself, embedded files or not.
  for (const Vma& v : img.vmas)
    if (maps_file(img, v) || (v.kind == VmaKind::SharedFile && v.file >= 0)) need[size_t(v.file)] = true;
  return need;
}

uint64_t choose_hole(const Image& img, uint64_t len) {
  std::vector<image::Range> used;
  for (const Vma& v : img.vmas) used.push_back({v.start, v.end});
  for (const image::Range& r : {img.kernel.vvar, img.kernel.vvar_vclock, img.kernel.vdso})
    if (!r.empty()) used.push_back(r);
  used.push_back({VPROC_RESTORER_BASE, VPROC_RESTORER_BASE + VPROC_RESTORER_SPAN});
  used.push_back({0, kLowest});
  used.push_back({kUserEnd, ~0ull});
  std::sort(used.begin(), used.end(), [](const image::Range& a, const image::Range& b) { return a.start < b.start; });
  // Walk the gaps downwards: [end of everything below, start of the next].
  const uint64_t need = page_up(len) + 2 * kPage;
  uint64_t best = 0;
  uint64_t covered = 0;  // highest end so far
  for (size_t i = 0; i < used.size(); ++i) {
    uint64_t gap_start = page_up(covered), gap_end = used[i].start & ~(kPage - 1);
    if (gap_end > gap_start && gap_end - gap_start >= need) best = gap_end - kPage - page_up(len);
    covered = std::max(covered, used[i].end);
  }
  if (!best) throw RestoreError("the image's memory map has no free range of " + std::to_string(need) +
                                " bytes for the restore plan");
  return best;
}

Plan build_plan(const Image& img, const PlanOptions& opt, const PlanFds& fds) {
  // The restorer resumes the main thread, threads[0]; it re-creates the
  // others (libvproc/ckpt_threads.h).
  if (img.threads.empty()) throw RestoreError("the image has no thread");
  if (img.sigactions.size() > 64) throw RestoreError("the image has more than 64 signal actions");
  if (img.process.auxv.size() > 4096) throw RestoreError("the image's auxiliary vector is too large");

  const std::vector<std::vector<Run>> runs = runs_per_vma(img);
  const std::vector<bool> lazy = choose_lazy(img, runs, opt.mode);
  Plan plan;
  OpList ops;
  for (size_t i = 0; i < img.vmas.size(); ++i) vma_ops(img, img.vmas[i], runs[i], lazy[i], fds, ops, &plan.maps_image);

  // The tool's descriptors: close_fds[] first, CLOSE ops for the rest.
  std::vector<int> to_close{fds.plan};
  if (!plan.maps_image && fds.image >= 0) to_close.push_back(fds.image);
  for (int fd : fds.files)
    if (fd >= 0 && std::find(to_close.begin(), to_close.end(), fd) == to_close.end()) to_close.push_back(fd);
  constexpr size_t kCloseSlots = sizeof(vproc_plan::close_fds) / sizeof(int32_t);
  for (size_t i = kCloseSlots; i < to_close.size(); ++i) ops.add(VPROC_OP_CLOSE, 0, 0, 0, 0, to_close[i], 0);
  for (int fd : fds.cloexec) ops.add(VPROC_OP_SET_CLOEXEC, 0, 0, 0, 0, fd, 0);

  const uint64_t info_offset = align8(sizeof(vproc_plan));
  const uint64_t auxv_offset = align8(info_offset + sizeof(vproc_restore_info));
  const uint64_t ops_offset = align8(auxv_offset + img.process.auxv.size());
  const uint64_t total = ops_offset + ops.ops.size() * sizeof(vproc_plan_op);
  plan.bytes.assign(total, 0);

  vproc_plan& h = plan.header();
  h.magic = VPROC_PLAN_MAGIC;
  h.version = VPROC_PLAN_VERSION;
  h.op_count = uint32_t(ops.ops.size());
  h.total_size = total;
  h.ops_offset = ops_offset;
  h.auxv_offset = auxv_offset;
  h.auxv_size = img.process.auxv.size();
  h.hole_addr = choose_hole(img, total);
  h.vvar_addr = img.kernel.vvar.start;
  h.vvar_size = img.kernel.vvar.size();
  h.vvar_vclock_addr = img.kernel.vvar_vclock.start;
  h.vvar_vclock_size = img.kernel.vvar_vclock.size();
  h.vdso_addr = img.kernel.vdso.start;
  h.vdso_size = img.kernel.vdso.size();
  const image::MmLayout& mm = img.process.mm;
  h.mm = {mm.start_code, mm.end_code, mm.start_data, mm.end_data, mm.start_brk, mm.brk, mm.start_stack,
          mm.arg_start,  mm.arg_end,  mm.env_start,  mm.env_end};
  for (size_t i = 0; i < img.sigactions.size(); ++i) {
    const image::SigAction& a = img.sigactions[i];
    h.sigactions[i] = {a.handler, a.flags, a.restorer, a.mask};
  }
  const image::Thread& t = img.threads[0];
  h.thread_count = 1;
  h.threads[0].fs_base = t.fs_base;
  h.threads[0].gs_base = t.gs_base;
  h.threads[0].resume = {t.resume.rip, t.resume.rsp, t.resume.rbx, t.resume.rbp,
                         t.resume.r12, t.resume.r13, t.resume.r14, t.resume.r15};
  h.info_offset = info_offset;
  for (size_t i = 0; i < kCloseSlots; ++i) h.close_fds[i] = i < to_close.size() ? to_close[i] : -1;

  vproc_restore_info& info = plan.info();
  info.magic = VPROC_RESTORE_INFO_MAGIC;
  info.restorer_start = VPROC_RESTORER_BASE;
  info.restorer_end = VPROC_RESTORER_BASE + VPROC_RESTORER_SPAN;
  info.image_fd = plan.maps_image ? fds.image : -1;
  info.flags = plan.maps_image ? VPROC_RESTORE_LAZY : 0;
  info.image_dev = opt.image_dev;
  info.image_ino = opt.image_ino;
  info.generation = img.process.generation + 1;
  info.exe_fd = -1;

  if (!img.process.auxv.empty())
    std::memcpy(plan.bytes.data() + auxv_offset, img.process.auxv.data(), img.process.auxv.size());
  if (!ops.ops.empty())
    std::memcpy(plan.bytes.data() + ops_offset, ops.ops.data(), ops.ops.size() * sizeof(vproc_plan_op));
  return plan;
}

}  // namespace vproc::restore
