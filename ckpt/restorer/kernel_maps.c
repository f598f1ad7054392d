/* [vvar], [vvar_vclock], [vdso]: the kernel put them somewhere in the
 * restorer; the restored program's glibc and saved auxv know them at the
 * image's addresses. The vdso code reaches its data pages at a fixed distance,
 * so the three move as a group and keep their relative layout (PITFALLS 3).
 * They are parked in the restorer's own range first: their targets may
 * overlap where they are now, and the plan buffer is mapped in between. */
#include <asm/errno.h>

#include "out.h"
#include "restorer.h"
#include "sys.h"

enum { KM_COUNT = 3 };

struct kmap {
  uint64_t parked, target, size; /* size 0: absent on this kernel and in the image */
};
static struct kmap kmaps[KM_COUNT];

static const char* kname(int i) {
  switch (i) {
    case 0: return "[vvar]";
    case 1: return "[vvar_vclock]";
    default: return "[vdso]";
  }
}

static void move(uint64_t from, uint64_t size, uint64_t to, int i) {
  long r = rs_sys5(__NR_mremap, from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  if ((uint64_t)r == to) return;
  struct rs_msg m;
  rs_msg_begin(&m);
  rs_msg_str(&m, "cannot move ");
  rs_msg_str(&m, kname(i));
  rs_msg_str(&m, " from ");
  rs_msg_hex(&m, from);
  rs_msg_str(&m, " to ");
  rs_msg_hex(&m, to);
  rs_msg_errno(&m, rs_failed(r) ? r : -EINVAL);
  rs_msg_die(&m);
}

void rs_park_kernel_maps(const struct vproc_plan* plan, const struct rs_self_maps* self) {
  struct rs_range cur[KM_COUNT] = {self->vvar, self->vvar_vclock, self->vdso};
  uint64_t target[KM_COUNT] = {plan->vvar_addr, plan->vvar_vclock_addr, plan->vdso_addr};
  uint64_t want[KM_COUNT] = {plan->vvar_size, plan->vvar_vclock_size, plan->vdso_size};
  uint64_t cur_lo = ~0ull, cur_hi = 0, target_lo = ~0ull;
  for (int i = 0; i < KM_COUNT; ++i) {
    uint64_t size = cur[i].end - cur[i].start;
    if (size != want[i]) {
      struct rs_msg m;
      rs_msg_begin(&m);
      rs_msg_str(&m, "this kernel's ");
      rs_msg_str(&m, kname(i));
      rs_msg_str(&m, " is ");
      rs_msg_dec(&m, (int64_t)size);
      rs_msg_str(&m, " bytes, the image's ");
      rs_msg_dec(&m, (int64_t)want[i]);
      rs_msg_str(&m, ": restoring across kernels is not supported");
      rs_msg_die(&m);
    }
    if (!size) continue;
    if (target[i] % RS_PAGE || !target[i]) rs_die("plan corrupted: a kernel mapping's address is not page-aligned");
    if (cur[i].start < cur_lo) cur_lo = cur[i].start;
    if (cur[i].end > cur_hi) cur_hi = cur[i].end;
    if (target[i] < target_lo) target_lo = target[i];
  }
  if (!cur_hi) return; /* no vdso here, none in the image */
  if (cur_hi - cur_lo > VPROC_RESTORER_SPAN / 4) rs_die("the kernel's [vvar]/[vdso] are scattered; cannot move them");
  for (int i = 0; i < KM_COUNT; ++i) {
    if (!want[i]) continue;
    if (cur[i].start - cur_lo != target[i] - target_lo) {
      struct rs_msg m;
      rs_msg_begin(&m);
      rs_msg_str(&m, kname(i));
      rs_msg_str(&m, " lies elsewhere relative to the other kernel mappings than in the image:"
                     " restoring across kernels is not supported");
      rs_msg_die(&m);
    }
  }
  for (int i = 0; i < KM_COUNT; ++i) {
    kmaps[i].size = want[i];
    if (!want[i]) continue;
    kmaps[i].parked = RS_SCRATCH + (cur[i].start - cur_lo);
    kmaps[i].target = target[i];
    move(cur[i].start, want[i], kmaps[i].parked, i);
  }
}

void rs_place_kernel_maps(void) {
  for (int i = 0; i < KM_COUNT; ++i)
    if (kmaps[i].size) move(kmaps[i].parked, kmaps[i].size, kmaps[i].target, i);
}
