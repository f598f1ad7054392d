#include "proc_kernel_path.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>

#include <cstring>

#include "proc_text.h"
#include "raw_syscall.h"
#include "translate.h"
#include "preload_rules.h"

namespace vproc::lib {
namespace {

long id_to_virtual(IdKind kind, long real, void*) {
  switch (kind) {
    case IdKind::Process: return to_virtual_pid(pid_t(real));
    case IdKind::Task: return to_virtual_tid(pid_t(real));
    case IdKind::Group: return to_virtual_pgid(pid_t(real));
  }
  return real;
}

long id_to_real(IdKind kind, long virt, void*) {
  switch (kind) {
    case IdKind::Process: return to_real_pid(pid_t(virt));
    case IdKind::Task: return to_real_tid(pid_t(virt));
    case IdKind::Group: return to_real_pgid(pid_t(virt));
  }
  return -ESRCH;
}

constexpr IdMap kProcessIdMap{id_to_virtual, id_to_real, nullptr};

}  // namespace

const IdMap& process_id_map() { return kProcessIdMap; }

int resolve_proc_path(const char* path, KernelPath* kp) {
  kp->path = path;
  switch (rewrite_proc_path(path, kProcessIdMap, kp->buf, sizeof kp->buf, &kp->info)) {
    case ProcPathResult::Unchanged: return 0;
    case ProcPathResult::Rewritten: kp->path = kp->buf; return 0;
    case ProcPathResult::NoSuchProcess: return -ENOENT;
    case ProcPathResult::TooLong: return -ENAMETOOLONG;
  }
  return -ENOENT;
}

namespace {

bool has_prefix(const char* s, const char* p) { return strncmp(s, p, strlen(p)) == 0; }

// Could `path`, relative to some /proc directory, name a process or its files?
bool may_name_process(const char* path) {
  if (proc_text::is_digit(path[0]) || has_prefix(path, "self") || has_prefix(path, "thread-self")) return true;
  return strcmp(path, "status") == 0 || strcmp(path, "stat") == 0;
}

}  // namespace

const char* proc_dirfd_path(int dirfd, const char* path, char* buf) {
  if (dirfd == AT_FDCWD || !path || path[0] == '/' || path[0] == '\0' || !may_name_process(path))
    return path;
  char link[32] = "/proc/self/fd/";
  proc_text::format_decimal(uint64_t(dirfd), link + 14, sizeof link - 14);
  long n = raw::sys(SYS_readlinkat, AT_FDCWD, link, buf, PATH_MAX - 1);
  if (n < 5 || memcmp(buf, "/proc", 5) != 0 || (n > 5 && buf[5] != '/')) return path;
  size_t len = strlen(path);
  if (size_t(n) + 1 + len >= PATH_MAX) return path;  // the kernel will say ENAMETOOLONG itself
  buf[n] = '/';
  memcpy(buf + n + 1, path, len + 1);
  return buf;
}

ssize_t proc_link_result(const char* target, size_t n, const ProcPathInfo& info, char* buf,
                         size_t bufsiz, char* scratch) {
  size_t len = 0;
  const char* shown = target;
  if (proc_link_to_virtual(target, n, info.link, kProcessIdMap, scratch, PATH_MAX, &len) ==
      ProcPathResult::Rewritten)
    shown = scratch;
  else
    len = n;  // untranslatable (or too long to translate): as the kernel said it
  if (len > bufsiz) len = bufsiz;  // readlink truncates silently
  for (size_t i = 0; i < len; ++i) buf[i] = shown[i];
  return ssize_t(len);
}

}  // namespace vproc::lib
