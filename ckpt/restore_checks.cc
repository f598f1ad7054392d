#include "restore_checks.h"

#include <fcntl.h>
#include <unistd.h>

#include "elf_build_id.h"
#include "host_file.h"
#include "image_check.h"
#include "plan_builder.h"
#include "restore_plan.h"

namespace vproc::restore {
namespace {

using image::hex;
using image::Range;

std::string pages(const Range& r) {
  if (r.empty()) return "absent";
  return std::to_string(r.size() / image::kImagePage) + " pages";
}

bool overlaps(uint64_t a, uint64_t a_end, uint64_t b, uint64_t b_end) { return a < b_end && b < a_end; }

std::string hex_bytes(const std::vector<uint8_t>& v) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : v) s += {digits[b >> 4], digits[b & 15]};
  return s.empty() ? "none" : s;
}

// "differs from the checkpointed one (WHY)", with build-ids when the image has
// one: they say at a glance whether this is another build of the library.
std::string changed_message(const image::MappedFile& f, const std::string& why) {
  std::string detail = why;
  if (!f.build_id.empty()) {
    int fd = open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
    std::vector<uint8_t> here = fd >= 0 ? read_elf_build_id(fd) : std::vector<uint8_t>{};
    if (fd >= 0) close(fd);
    if (here != f.build_id)
      detail = "build-id " + hex_bytes(f.build_id) + " in the image, " + hex_bytes(here) + " here";
    else
      detail = why + ", although the build-id is the same";
  }
  return f.path + " differs from the checkpointed one (" + detail +
         "): the process must be restored with the same files it had mapped";
}

}  // namespace

void check_kernel(const image::Image& img, const HostInfo& host) {
  const image::KernelInfo& k = img.kernel;
  std::string diff;
  struct {
    const char* name;
    Range image, here;
  } maps[] = {{"[vvar]", k.vvar, host.vvar}, {"[vvar_vclock]", k.vvar_vclock, host.vvar_vclock},
              {"[vdso]", k.vdso, host.vdso}};
  for (const auto& m : maps)
    if (diff.empty() && m.image.size() != m.here.size())
      diff = std::string(m.name) + " is " + pages(m.image) + " in the image, " + pages(m.here) + " here";
  if (diff.empty() && k.vdso_hash != host.vdso_hash) diff = "the vdso's contents differ";
  // The vdso reaches its data pages at fixed distances: same relative layout.
  if (diff.empty() && !k.vdso.empty())
    for (const auto& m : maps)
      if (!m.image.empty() && m.image.start - k.vdso.start != m.here.start - host.vdso.start)
        diff = std::string(m.name) + " lies elsewhere relative to [vdso]";
  if (diff.empty()) return;
  throw RestoreError("the image was taken on kernel " + k.release + " with a different vdso; this kernel is " +
                     host.kernel_release + " (" + diff + "): restoring across kernels is not supported");
}

void check_cpu(const image::Image& img, const HostInfo& host) {
  const image::CpuInfo& c = img.cpu;
  if (uint64_t missing = c.xfeatures & ~host.xcr0)
    throw RestoreError("the image uses CPU state components " + hex(missing) +
                       " that this CPU does not enable (image XCR0 " + hex(c.xcr0) + ", here " + hex(host.xcr0) +
                       "): restore it on a CPU with the same features");
  if (c.xstate_size != 0 && c.xstate_size != host.xstate_size)
    throw RestoreError("the image's signal frames hold " + std::to_string(c.xstate_size) +
                       " bytes of XSAVE state, this CPU's " + std::to_string(host.xstate_size) +
                       ": restore it on a CPU with the same features");
}

void check_layout(const image::Image& img) {
  const uint64_t lo = VPROC_RESTORER_BASE, hi = VPROC_RESTORER_BASE + VPROC_RESTORER_SPAN;
  auto refuse = [&](uint64_t a, uint64_t b) {
    throw RestoreError("the image has memory at " + hex(a) + "-" + hex(b) + ", inside the range " + hex(lo) + "-" +
                       hex(hi) + " that vproc-restorer occupies: it cannot be restored");
  };
  for (const image::Vma& v : img.vmas)
    if (overlaps(v.start, v.end, lo, hi)) refuse(v.start, v.end);
  for (const Range& r : {img.kernel.vvar, img.kernel.vvar_vclock, img.kernel.vdso})
    if (!r.empty() && overlaps(r.start, r.end, lo, hi)) refuse(r.start, r.end);
  if (img.threads.empty()) throw RestoreError("the image has no thread");
  // The library re-creates the other threads from its own record of them,
  // which has room for this many (libvproc/ckpt_state.h).
  if (img.threads.size() > 512)
    throw RestoreError("the image has " + std::to_string(img.threads.size()) +
                       " threads; at most 512 can be restored");
}

std::vector<int> open_mapped_files(const image::Image& img) {
  std::vector<bool> need = files_to_open(img);
  std::vector<int> fds(img.files.size(), -1);
  try {
    for (size_t i = 0; i < img.files.size(); ++i) {
      if (!need[i]) continue;
      const image::MappedFile& f = img.files[i];
      image::HostFileCheck c = image::check_host_file(f, &fds[i]);
      if (c.state == image::HostFileState::Missing)
        throw RestoreError("cannot open " + f.path + ", which the checkpointed process had mapped: " + c.why);
      if (c.state == image::HostFileState::Changed) throw RestoreError(changed_message(f, c.why));
    }
  } catch (...) {
    for (int fd : fds)
      if (fd >= 0) close(fd);
    throw;
  }
  return fds;
}

}  // namespace vproc::restore
