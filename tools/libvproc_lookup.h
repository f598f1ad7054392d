// Where vproc-run finds the preload library it puts into LD_PRELOAD.
#pragma once

#include <string>

namespace vproc::tools {

// The absolute path of libvproc.so: $VPROC_LIB if set (it must exist), else
// <dir of this executable>/../lib/libvproc.so (the build tree and a relocated
// install prefix alike), else <prefix>/<libdir>/libvproc.so of the configured
// install. Throws ToolError(1, ...) naming every place it looked, or when the
// path cannot be written into LD_PRELOAD (it splits on ' ' and ':').
std::string find_libvproc();

}  // namespace vproc::tools
