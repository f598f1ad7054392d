// Can this image be restored here? Each check throws RestoreError with a
// message that says what differs and what it means; they run before anything
// is changed, so a refused restore leaves nothing behind.
#pragma once

#include <vector>

#include "host_info.h"
#include "image_model.h"
#include "restore_error.h"

namespace vproc::restore {

// Same kernel build: [vvar], [vvar_vclock], [vdso] of the same sizes and
// relative layout, and the same vdso bytes (the program's glibc holds pointers
// into the image's vdso, and its code reaches the data pages at fixed offsets).
void check_kernel(const image::Image& img, const HostInfo& host);

// The saved signal frames must be accepted by rt_sigreturn here and glibc's
// cached CPU features hold: image xfeatures within this CPU's XCR0, and the
// same XSAVE frame size (PITFALLS 11).
void check_cpu(const image::Image& img, const HostInfo& host);

// Nothing of the image lies in the restorer's range, and the image is one the
// restorer can rebuild (one thread).
void check_layout(const image::Image& img);

// Opens every file the plan maps from (plan_builder.h files_to_open), each
// verified to be the very file the image recorded (same identity, or same size
// and contents). Returns one fd per Image::files (-1 where none is needed),
// read-only and close-on-exec; the caller owns them.
std::vector<int> open_mapped_files(const image::Image& img);

}  // namespace vproc::restore
