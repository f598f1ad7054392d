#include "ckpt_children_policy.h"

#include <cstring>

#include "ckpt_internal.h"
#include "diag.h"
#include "remote_children.h"
#include "state.h"
#include "preload_rules.h"

namespace vproc::lib {

const char* ckpt_children_refusal(const CkptState& c, char* buf, unsigned cap) {
  if (c.child_count - remote_standin_count() <= 0) return nullptr;  // stand-ins only
  // A migration leaves them behind: the shadow at the home node, or the
  // guest's old copy (vproc-shadow --linger) stays their parent.
  if (c.request_id != 0 && (c.request_flags & kCkptMigrate)) return nullptr;
  // Named by vpid where known (stand-ins left out).
  char list[160] = {};
  int shown = 0;
  for (int i = 0; i < c.child_count && i < 8; ++i) {
    RealPid r{c.children[i]};
    if (remote_child_of_standin(r)) continue;
    VPid v = child_table().vpid_of(r);
    if (!v && state().table.mapped()) v = state().table.vpid_of(r);
    size_t n = strlen(list);
    if (n + 24 >= sizeof list) break;
    if (shown++) list[n++] = ' ';
    format_u64(v.value ? v.value : r.value, list + n);
  }
  if (c.child_count > 8) copy_cstr(list + strlen(list), sizeof list - strlen(list), " ...");
  copy_cstr(buf, cap, "it has child processes (");
  size_t n = strlen(buf);
  copy_cstr(buf + n, cap - n, list);
  n = strlen(buf);
  copy_cstr(buf + n, cap - n,
            "): children are not part of an image, and the restored process could not wait for them (a "
            "migration leaves them behind)");
  return buf;
}

}  // namespace vproc::lib
