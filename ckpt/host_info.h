// The running system as restore compares it with an image: the kernel's
// special mappings and vdso (PITFALLS 3) and the CPU's state components
// (PITFALLS 11). A value type, so the checks can be tested with made-up hosts.
#pragma once

#include <cstdint>
#include <string>

#include "image_model.h"

namespace vproc::restore {

struct HostInfo {
  std::string kernel_release;                 // uname -r
  image::Range vvar, vvar_vclock, vdso;       // in this process
  uint64_t vdso_hash = 0;                     // XXH3-64 of the vdso's bytes
  uint64_t xcr0 = 0;                          // XGETBV(0); 0 without OSXSAVE
  uint64_t xfeatures = 0;                     // of a signal frame here (sw_reserved)
  uint32_t xstate_size = 0;                   // of a signal frame here; 0: no XSAVE frame
};

// Probes this process (it raises one signal to see the frame the kernel
// builds). Throws RestoreError if /proc/self/maps cannot be read.
HostInfo probe_host();

}  // namespace vproc::restore
