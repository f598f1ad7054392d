#include "proc_path.h"

#include "pid_types.h"
#include "vpid_space.h"
#include "preload_rules.h"

namespace vproc::lib {
namespace {

using proc_text::Out;
using proc_text::parse_pid_text;

struct Span {
  size_t off = 0;
  size_t len = 0;
};

bool span_is(const char* s, Span sp, const char* lit) {
  size_t i = 0;
  for (; lit[i]; ++i)
    if (i >= sp.len || s[sp.off + i] != lit[i]) return false;
  return i == sp.len;
}

// The next path component at or after *pos, skipping any run of slashes (the
// kernel treats "a//b" as "a/b"). *pos ends just past the component. `end` is
// the length of the text (SIZE_MAX for a NUL-terminated path).
Span next_component(const char* s, size_t end, size_t* pos) {
  size_t p = *pos;
  while (p < end && s[p] == '/') ++p;
  Span sp{p, 0};
  while (p < end && s[p] != '\0' && s[p] != '/') ++p;
  sp.len = p - sp.off;
  *pos = p;
  return sp;
}

bool at_end(const char* s, size_t end, size_t pos) { return pos >= end || s[pos] == '\0'; }

// A number in the text to be replaced by another.
struct Replacement {
  Span where;
  long value = 0;
};

// Copies s[0, len) to out with the replacements (in increasing offset order)
// applied. With `terminate`, appends a NUL.
bool emit(const char* s, size_t len, const Replacement* repl, int nrepl, bool terminate, Out* out) {
  size_t at = 0;
  for (int i = 0; i < nrepl; ++i) {
    out->put(s + at, repl[i].where.off - at);
    out->put_number(repl[i].value);
    at = repl[i].where.off + repl[i].where.len;
  }
  out->put(s + at, len - at);
  if (terminate) out->put("", 1);
  return !out->overflow;
}

size_t bounded_strlen(const char* s, size_t limit) {
  size_t n = 0;
  while (n < limit && s[n]) ++n;
  return n;
}

ProcLeaf leaf_of(const char* s, Span sp) {
  if (span_is(s, sp, "status")) return ProcLeaf::Status;
  if (span_is(s, sp, "stat")) return ProcLeaf::Stat;
  return ProcLeaf::Other;
}

// Program -> kernel for one id component. Numbers below 2^22 are real already;
// a number in the virtual range that is not a well-formed vpid names nothing (the
// kernel answers ENOENT for it by itself, since no pid is that large).
// Returns false if the vpid maps to nothing.
bool add_to_real(const char* s, Span sp, const IdMap& map, Replacement* repl, int* nrepl) {
  long n = parse_pid_text(s + sp.off, sp.len);
  if (n < 0 || !is_virtual_number(n) || !valid_vpid(n)) return true;
  long r = map.to_real(IdKind::Task, n, map.ctx);
  if (r <= 0) return false;
  repl[(*nrepl)++] = {sp, r};
  return true;
}

// Kernel -> program for one id component.
void add_to_virtual(const char* s, Span sp, IdKind kind, const IdMap& map, Replacement* repl,
                    int* nrepl) {
  long n = parse_pid_text(s + sp.off, sp.len);
  if (n <= 0) return;
  long v = map.to_virtual(kind, n, map.ctx);
  if (v > 0 && v != n) repl[(*nrepl)++] = {sp, v};
}

}  // namespace

ProcPathResult rewrite_proc_path(const char* path, const IdMap& map, char* out, size_t cap,
                                 ProcPathInfo* info) {
  *info = {};
  if (!starts_with_proc(path)) return ProcPathResult::Unchanged;
  const size_t kEnd = SIZE_MAX;
  size_t pos = 5;  // the slash after "/proc"
  Span c1 = next_component(path, kEnd, &pos);
  bool self = span_is(path, c1, "self");
  bool thread_self = span_is(path, c1, "thread-self");
  bool number = parse_pid_text(path + c1.off, c1.len) >= 0;
  if (!self && !thread_self && !number) return ProcPathResult::Unchanged;  // /proc/sys, ...

  Replacement repl[2];
  int nrepl = 0;
  if (number && !add_to_real(path, c1, map, repl, &nrepl)) return ProcPathResult::NoSuchProcess;

  if (at_end(path, kEnd, pos)) {
    // Exactly the entry itself (a trailing slash makes it a directory lookup,
    // which readlink does not treat as the link).
    if (self) info->link = ProcLink::Self;
    if (thread_self) info->link = ProcLink::ThreadSelf;
  } else {
    Span c2 = next_component(path, kEnd, &pos);
    if (at_end(path, kEnd, pos)) {
      info->leaf = leaf_of(path, c2);
    } else if (span_is(path, c2, "task") && !thread_self) {
      // A thread directory has no "task" entry; for one, the kernel's ENOENT stands.
      Span c3 = next_component(path, kEnd, &pos);
      if (!add_to_real(path, c3, map, repl, &nrepl)) return ProcPathResult::NoSuchProcess;
      if (parse_pid_text(path + c3.off, c3.len) >= 0 && !at_end(path, kEnd, pos)) {
        Span c4 = next_component(path, kEnd, &pos);
        if (at_end(path, kEnd, pos)) info->leaf = leaf_of(path, c4);
      }
    }
  }
  if (nrepl == 0) return ProcPathResult::Unchanged;

  // Bound the scan: the result is shorter than the path (a real id has fewer
  // digits than a virtual one), but by less than this slack.
  const size_t limit = cap + 64;
  size_t len = bounded_strlen(path, limit);
  if (len == limit) return ProcPathResult::TooLong;
  Out o{out, cap};
  return emit(path, len, repl, nrepl, true, &o) ? ProcPathResult::Rewritten
                                                : ProcPathResult::TooLong;
}

bool is_proc_task_dir(const char* path) {
  if (!starts_with_proc(path)) return false;
  const size_t kEnd = SIZE_MAX;
  size_t pos = 5;
  Span c1 = next_component(path, kEnd, &pos);
  if (!span_is(path, c1, "self") && parse_pid_text(path + c1.off, c1.len) < 0) return false;
  Span c2 = next_component(path, kEnd, &pos);
  if (!span_is(path, c2, "task")) return false;
  Span rest = next_component(path, kEnd, &pos);
  return rest.len == 0;
}

ProcPathResult proc_link_to_virtual(const char* target, size_t len, ProcLink link,
                                    const IdMap& map, char* out, size_t cap, size_t* out_len) {
  *out_len = 0;
  Replacement repl[2];
  int nrepl = 0;
  size_t pos = 0;
  if (link != ProcLink::None) {
    // "<pid>" (self) or "<pid>/task/<tid>" (thread-self), relative to /proc.
    Span c1 = next_component(target, len, &pos);
    if (c1.off != 0) return ProcPathResult::Unchanged;
    add_to_virtual(target, c1, IdKind::Process, map, repl, &nrepl);
    if (!at_end(target, len, pos)) {
      Span c2 = next_component(target, len, &pos);
      if (!span_is(target, c2, "task")) return ProcPathResult::Unchanged;
      Span c3 = next_component(target, len, &pos);
      add_to_virtual(target, c3, IdKind::Task, map, repl, &nrepl);
    }
  } else {
    // An absolute "/proc/<n>[/task/<m>]..." target.
    if (len < 6 || !starts_with_proc(target)) return ProcPathResult::Unchanged;
    pos = 5;
    Span c1 = next_component(target, len, &pos);
    add_to_virtual(target, c1, IdKind::Task, map, repl, &nrepl);
    if (parse_pid_text(target + c1.off, c1.len) > 0 && !at_end(target, len, pos)) {
      Span c2 = next_component(target, len, &pos);
      if (span_is(target, c2, "task") && !at_end(target, len, pos)) {
        Span c3 = next_component(target, len, &pos);
        add_to_virtual(target, c3, IdKind::Task, map, repl, &nrepl);
      }
    }
  }
  if (nrepl == 0) return ProcPathResult::Unchanged;
  Out o{out, cap};
  if (!emit(target, len, repl, nrepl, false, &o)) return ProcPathResult::TooLong;
  *out_len = o.len;
  return ProcPathResult::Rewritten;
}

}  // namespace vproc::lib
