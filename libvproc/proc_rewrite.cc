#include "proc_rewrite.h"

#include <errno.h>

#include "preload_rules.h"

namespace vproc::lib {
namespace {

using proc_text::is_digit;
using proc_text::Out;
using proc_text::parse_pid_text;

struct StatusField {
  const char* key;  // text before the ':'
  IdKind kind;
};

// Every status line whose (first) number is an id (fs/proc/array.c task_state).
constexpr StatusField kStatusFields[] = {
    {"Tgid", IdKind::Process},  {"Ngid", IdKind::Process},   {"Pid", IdKind::Task},
    {"PPid", IdKind::Process},  {"TracerPid", IdKind::Task}, {"NStgid", IdKind::Process},
    {"NSpid", IdKind::Task},    {"NSpgid", IdKind::Group},   {"NSsid", IdKind::Group},
};

bool key_is(const char* s, size_t n, const char* key) {
  size_t i = 0;
  for (; key[i]; ++i)
    if (i >= n || s[i] != key[i]) return false;
  return i == n;
}

// Copies the digits at in[at, end) to out translated (positive values only: 0
// means "none" and -1 "no terminal"). Returns the index just past them.
size_t put_translated(const char* in, size_t at, size_t end, IdKind kind, const IdMap& map,
                      Out* out) {
  size_t e = at;
  while (e < end && is_digit(in[e])) ++e;
  long n = parse_pid_text(in + at, e - at);
  long v = n > 0 ? map.to_virtual(kind, n, map.ctx) : -1;
  // 0 is an answer too: a migrated process's parent outside its pid namespace.
  if (n > 0 && v >= 0)
    out->put_number(v);
  else
    out->put(in + at, e - at);
  return e;
}

}  // namespace

long rewrite_proc_status(const char* in, size_t len, const IdMap& map, char* out, size_t cap) {
  Out o{out, cap};
  size_t line = 0;
  while (line < len) {
    size_t eol = line;
    while (eol < len && in[eol] != '\n') ++eol;
    size_t next = eol < len ? eol + 1 : eol;

    size_t colon = line;
    while (colon < eol && in[colon] != ':') ++colon;
    const StatusField* field = nullptr;
    if (colon < eol)
      for (const StatusField& f : kStatusFields)
        if (key_is(in + line, colon - line, f.key)) field = &f;

    if (!field) {
      o.put(in + line, next - line);
    } else {
      size_t at = colon + 1;
      while (at < eol && (in[at] == '\t' || in[at] == ' ')) ++at;
      o.put(in + line, at - line);
      at = put_translated(in, at, eol, field->kind, map, &o);
      o.put(in + at, next - at);  // further columns: ids in nested namespaces
    }
    line = next;
  }
  return o.overflow ? -ENOSPC : long(o.len);
}

long rewrite_proc_stat(const char* in, size_t len, const IdMap& map, char* out, size_t cap) {
  // "<id> (<comm>) <state> <ppid> <pgrp> <session> <tty_nr> <tpgid> ..."
  size_t close = len;
  for (size_t i = len; i > 0; --i)
    if (in[i - 1] == ')') {
      close = i - 1;
      break;
    }
  size_t id_end = 0;
  while (id_end < len && is_digit(in[id_end])) ++id_end;
  if (close == len || id_end == 0 || id_end + 2 > close || in[id_end] != ' ' ||
      in[id_end + 1] != '(')
    return -EINVAL;

  Out o{out, cap};
  put_translated(in, 0, id_end, IdKind::Task, map, &o);
  o.put(in + id_end, close + 1 - id_end);  // " (comm)" whatever comm contains

  // Fields after the name, counted from 3 (the state letter).
  size_t at = close + 1;
  int field = 2;
  while (at < len) {
    if (in[at] == ' ') {
      o.put(in + at, 1);
      ++at;
      continue;
    }
    ++field;
    IdKind kind = IdKind::Group;
    bool id = true;
    switch (field) {
      case 4: kind = IdKind::Process; break;  // ppid
      case 5:                                 // pgrp
      case 6:                                 // session
      case 8: kind = IdKind::Group; break;    // tpgid (-1: no terminal)
      default: id = false;
    }
    size_t end = at;
    while (end < len && in[end] != ' ') ++end;
    if (id && is_digit(in[at])) {
      size_t e = put_translated(in, at, end, kind, map, &o);
      o.put(in + e, end - e);
    } else {
      o.put(in + at, end - at);
    }
    at = end;
    if (field >= 8) {  // nothing after tpgid is an id: copy the rest as it is
      o.put(in + at, len - at);
      at = len;
    }
  }
  return o.overflow ? -ENOSPC : long(o.len);
}

}  // namespace vproc::lib
