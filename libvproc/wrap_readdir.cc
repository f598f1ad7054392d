// Listing a thread-list directory (/proc/<pid>/task, /proc/self/task): the
// kernel's entries are real tids, the program must see vtids.
//
// opendir() of such a directory (wrap_proc_paths.cc) registers the stream
// here; readdir() of a registered stream returns each numeric entry with its
// name translated. A vtid may have more digits than the real tid, more than
// the kernel's record has room for, so the translated entry is a copy kept
// with the stream (valid until the next readdir or closedir of that stream,
// as readdir promises). Every other stream costs one atomic load per call.
//
// The library's own threads (those populating a lazily restored process,
// ckpt_restore.cc) are not the program's: their entries are skipped.
//
// Not covered (documented limits): streams from fdopendir() and glibc
// functions that read directories internally (scandir, ftw, nftw), and an
// entry for a thread that has no vtid (one not started by pthread_create,
// that never called gettid(): ckpt_mask_guard.cc gives the others theirs).
#include "proc_task_dir.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>

#include <atomic>

#include "ckpt_state.h"
#include "libc_boundary.h"
#include "proc_path.h"
#include "proc_text.h"
#include "real_fn.h"
#include "state.h"
#include "translate.h"
#include "preload_rules.h"

using namespace vproc;
using namespace vproc::lib;

VPROC_REAL(readdir);
VPROC_REAL(readdir64);
// readdir_r is deprecated, and still called by programs.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
VPROC_REAL(readdir_r);
VPROC_REAL(readdir64_r);
VPROC_REAL(closedir);

namespace {

// struct dirent and struct dirent64 are the same on x86-64.
static_assert(sizeof(struct dirent) == sizeof(struct dirent64));
static_assert(offsetof(struct dirent, d_name) == offsetof(struct dirent64, d_name));

struct TaskDir {
  std::atomic<DIR*> dir{nullptr};
  struct dirent64 entry;
};

// At most this many thread-list streams open at once are translated; more
// are listed as the kernel lists them.
constexpr int kTaskDirs = 16;
constinit TaskDir g_task_dirs[kTaskDirs];
constinit std::atomic<int> g_task_dirs_open{0};

TaskDir* find(DIR* d) {
  if (g_task_dirs_open.load(std::memory_order_acquire) == 0) return nullptr;
  for (TaskDir& t : g_task_dirs)
    if (t.dir.load(std::memory_order_acquire) == d) return &t;
  return nullptr;
}

// The tid an entry names, or 0 ("." and "..").
template <typename Dirent>
long entry_tid(const Dirent* e) {
  size_t len = 0;
  while (e->d_name[len]) ++len;
  long tid = proc_text::parse_pid_text(e->d_name, len);
  return tid > 0 ? tid : 0;
}

// A thread of the library, not of the program.
bool internal_task(long tid) {
  if (tid <= 0) return false;
  for (const auto& t : state().ckpt.populate_tid)
    if (t.load(std::memory_order_relaxed) == tid) return true;
  return false;
}

// The next entry the program may see.
template <typename Dirent, typename Read>
Dirent* next_entry(DIR* d, Read& read) {
  for (;;) {
    Dirent* e = read(d);
    if (!e || !active()) return e;
    if (!internal_task(entry_tid(e))) return e;
  }
}

// `e` as the program must see it: itself, or the stream's copy with the
// translated tid.
template <typename Dirent>
Dirent* translated(TaskDir* t, Dirent* e) {
  if (!e || !active()) return e;
  long real = entry_tid(e);
  if (real <= 0) return e;
  pid_t v = to_virtual_tid(pid_t(real));
  if (v == real) return e;
  static_assert(sizeof(Dirent) == sizeof(t->entry));
  auto* out = reinterpret_cast<Dirent*>(&t->entry);
  out->d_ino = e->d_ino;
  out->d_off = e->d_off;
  out->d_type = e->d_type;
  size_t n = proc_text::format_decimal(uint64_t(v), out->d_name, sizeof out->d_name - 1);
  out->d_name[n] = '\0';
  out->d_reclen = uint16_t((offsetof(Dirent, d_name) + n + 1 + 7) & ~size_t(7));
  return out;
}

// readdir_r's entry is the caller's full-size buffer: translated in place.
template <typename Dirent>
void translate_in_place(Dirent* e) {
  if (!e || !active()) return;
  long real = entry_tid(e);
  if (real <= 0) return;
  pid_t v = to_virtual_tid(pid_t(real));
  if (v == real) return;
  size_t n = proc_text::format_decimal(uint64_t(v), e->d_name, sizeof e->d_name - 1);
  e->d_name[n] = '\0';
}

}  // namespace

namespace vproc::lib {

DIR* watch_proc_task_dir(DIR* d, const char* kernel_path) {
  if (!d || !is_proc_task_dir(kernel_path)) return d;
  for (TaskDir& t : g_task_dirs) {
    DIR* expected = nullptr;
    if (t.dir.compare_exchange_strong(expected, d, std::memory_order_acq_rel)) {
      g_task_dirs_open.fetch_add(1, std::memory_order_release);
      return d;
    }
  }
  return d;  // every slot taken: listed untranslated
}

}  // namespace vproc::lib

VPROC_EXPORT struct dirent* readdir(DIR* d) noexcept {
  TaskDir* t = find(d);
  if (!t) return real_readdir(d);
  return translated(t, next_entry<struct dirent>(d, real_readdir));
}

VPROC_EXPORT struct dirent64* readdir64(DIR* d) noexcept {
  TaskDir* t = find(d);
  if (!t) return real_readdir64(d);
  return translated(t, next_entry<struct dirent64>(d, real_readdir64));
}

namespace {

template <typename Dirent, typename Real>
int readdir_r_common(Real& real, DIR* d, Dirent* entry, Dirent** result) {
  int r = real(d, entry, result);
  if (!find(d)) return r;
  while (r == 0 && *result && active() && internal_task(entry_tid(*result))) r = real(d, entry, result);
  if (r == 0 && *result) translate_in_place(*result);
  return r;
}

}  // namespace

VPROC_EXPORT int readdir_r(DIR* d, struct dirent* entry, struct dirent** result) noexcept {
  return readdir_r_common(real_readdir_r, d, entry, result);
}

VPROC_EXPORT int readdir64_r(DIR* d, struct dirent64* entry, struct dirent64** result) noexcept {
  return readdir_r_common(real_readdir64_r, d, entry, result);
}

VPROC_EXPORT int closedir(DIR* d) noexcept {
  if (TaskDir* t = find(d)) {
    t->dir.store(nullptr, std::memory_order_release);
    g_task_dirs_open.fetch_sub(1, std::memory_order_release);
  }
  return real_closedir(d);
}
