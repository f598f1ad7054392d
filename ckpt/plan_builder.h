// From a validated image to the restore plan (restore_plan.h) that
// vproc-restorer executes: which mapping ops, in which order, where the plan
// itself may live, and which descriptors the restorer closes. Pure: the tool
// opens the files and passes their descriptor numbers, so the unit tests can
// build plans from synthetic images.
//
// Memory, per vma in address order: a base mapping (anonymous, the file, the
// growing stack, a PROT_NONE reservation, or a read-only shared file), then
// the stored chunks inside it. Lazy: chunks are mapped from the image file
// (MAP_IMAGE), paged in on first touch. Eager: they are read in (READ_IMAGE)
// through a writable base mapping, then PROTECT sets the real protection.
// Some chunks are always read eagerly, even in lazy mode:
//  - the main stack's: a file-backed piece would lose [stack], growth, and
//    /proc/PID/cmdline (the kernel reads arguments only from anonymous memory);
//  - executable vmas': an image on a noexec filesystem could not be mapped
//    PROT_EXEC, and such pages (patched code, JIT) are few;
//  - those of the vmas with the most runs once the number of mappings would
//    approach vm.max_map_count (every lazy run is a separate mapping).
#pragma once

#include <cstdint>
#include <vector>

#include "image_model.h"
#include "restore_error.h"
#include "restore_plan.h"

namespace vproc::restore {

enum class RestoreMode { Lazy, Eager };

// Mappings a plan may create in total (image vmas plus lazy runs): half the
// kernel's default vm.max_map_count, leaving the program room for its own.
inline constexpr uint64_t kMaxPlanMappings = 32768;

// The descriptors the plan names, all at numbers the image does not use.
struct PlanFds {
  int plan = -1;           // the memfd the plan is written to
  int image = -1;          // the image, read-only
  std::vector<int> files;  // per Image::files: the opened file, -1 when not mapped
  // The program's descriptors that had O_CLOEXEC: the restorer sets it (they
  // must survive the exec of the restorer first).
  std::vector<int> cloexec;
};

struct PlanOptions {
  RestoreMode mode = RestoreMode::Lazy;
  uint64_t image_dev = 0, image_ino = 0;  // fstat of the image (restore_info)
};

struct Plan {
  std::vector<uint8_t> bytes;  // 8-aligned contents; write all of it to PlanFds::plan
  bool maps_image = false;     // some op maps the image: its fd stays open (restore_info.image_fd)

  vproc_plan& header() { return *reinterpret_cast<vproc_plan*>(bytes.data()); }
  vproc_restore_info& info() { return *reinterpret_cast<vproc_restore_info*>(bytes.data() + header().info_offset); }
};

// Which Image::files the plan maps from the file itself (not embedded): the
// ones the tool must open (restore_checks.h) and pass in PlanFds::files.
std::vector<bool> files_to_open(const image::Image& img);

// Builds the plan. Throws RestoreError for an image the plan cannot express
// (pages stored for a shared mapping, a writable shared mapping, no free hole,
// an fd missing from FDS); the checks of restore_checks.h come first.
Plan build_plan(const image::Image& img, const PlanOptions& opt, const PlanFds& fds);

// A free range of LEN bytes (page-aligned) in the image's layout, away from
// its vmas, its kernel mappings, the restorer's range and the first 64 KiB:
// the highest such gap, a guard page below and above. Throws if none.
uint64_t choose_hole(const image::Image& img, uint64_t len);

}  // namespace vproc::restore
