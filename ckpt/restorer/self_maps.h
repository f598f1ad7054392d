/* The few of the restorer's own mappings it must deal with, found in
 * /proc/self/maps: the stack the kernel built for execve (unmapped once argv is
 * read: it may lie where the image needs memory) and the kernel's [vvar],
 * [vvar_vclock], [vdso] (moved to the image's addresses). */
#ifndef VPROC_RESTORER_SELF_MAPS_H
#define VPROC_RESTORER_SELF_MAPS_H

#include <stdint.h>

struct rs_range {
  uint64_t start, end; /* end == 0: absent */
};

struct rs_self_maps {
  struct rs_range stack, vvar, vvar_vclock, vdso;
};

/* Reads /proc/self/maps; 0 or -errno (-E2BIG: more text than the buffer). */
long rs_read_self_maps(struct rs_self_maps* out);

#endif
