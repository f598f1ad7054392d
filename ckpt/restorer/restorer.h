/* vproc-restorer's parts (see restorer.c for the order of the steps). */
#ifndef VPROC_RESTORER_RESTORER_H
#define VPROC_RESTORER_RESTORER_H

#include <stdint.h>

#include "restore_plan.h"
#include "self_maps.h"

_Static_assert(__builtin_offsetof(struct vproc_resume_regs, rip) == 0 &&
                   __builtin_offsetof(struct vproc_resume_regs, rsp) == 8 &&
                   __builtin_offsetof(struct vproc_resume_regs, rbx) == 16 &&
                   __builtin_offsetof(struct vproc_resume_regs, r15) == 56,
               "entry.c's rs_resume knows these offsets");

/* Where the kernel's [vvar]/[vvar_vclock]/[vdso] wait while the plan is read:
 * inside the restorer's own range, which the image never uses. */
#define RS_SCRATCH (VPROC_RESTORER_BASE + VPROC_RESTORER_SPAN / 2)

__attribute__((noreturn)) void rs_main(long argc, char** argv, uint64_t initial_sp);
__attribute__((noreturn)) void rs_resume(const struct vproc_resume_regs* regs, void* info);

/* kernel_maps.c: checks the running kernel's special mappings against the
 * plan, then parks them at RS_SCRATCH / moves them to the plan's addresses. */
void rs_park_kernel_maps(const struct vproc_plan* plan, const struct rs_self_maps* self);
void rs_place_kernel_maps(void);

/* plan_ops.c: runs the plan's ops in order; the plan buffer is
 * [plan_lo, plan_hi), which no op may touch. */
void rs_run_ops(const struct vproc_plan* plan, uint64_t plan_lo, uint64_t plan_hi);

#endif
