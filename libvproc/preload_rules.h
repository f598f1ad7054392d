// Rules for code in libvproc (included LAST by every libvproc .cc file).
//
// libvproc runs inside arbitrary programs, in fork children of multi-threaded
// programs, in vfork-like children sharing the parent's memory, and inside signal
// handlers. So, in every wrapper and everything it calls:
//   - no heap allocation (malloc/new/std::string/std::vector), no stdio, no
//     iostreams: use raw syscalls (common/raw_syscall.h) and fixed buffers;
//   - no locks that a signal handler on the same thread could re-enter: use
//     atomics, and try-locks with a fallback (see daemon_link.h);
//   - save and restore errno around anything that may clobber it, and set errno
//     only at the libc boundary (internal helpers return -errno like the kernel);
//   - no exceptions across extern "C" (every exported wrapper is noexcept);
//   - everything not exported is hidden (-fvisibility=hidden).
// The only state is the one ProcessState (state.h).
//
// The definitions below turn an accidental call into a compile error.
#pragma once

#define malloc VPROC_FORBIDDEN_malloc_in_preload
#define calloc VPROC_FORBIDDEN_calloc_in_preload
#define realloc VPROC_FORBIDDEN_realloc_in_preload
#define printf VPROC_FORBIDDEN_printf_in_preload
#define fprintf VPROC_FORBIDDEN_fprintf_in_preload
#define sprintf VPROC_FORBIDDEN_sprintf_in_preload
#define snprintf VPROC_FORBIDDEN_snprintf_in_preload
#define perror VPROC_FORBIDDEN_perror_in_preload
#define strdup VPROC_FORBIDDEN_strdup_in_preload
