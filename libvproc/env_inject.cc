#include "env_inject.h"

#include <string.h>

#include "preload_rules.h"

namespace vproc::lib {
namespace {

// `entry` is "name=..." -> pointer to the value, else nullptr.
const char* value_if(const char* entry, const char* name) {
  size_t n = strlen(name);
  return strncmp(entry, name, n) == 0 && entry[n] == '=' ? entry + n + 1 : nullptr;
}

bool is_ours(const char* entry, const InjectSpec& spec) {
  return value_if(entry, kPreloadEnvName) || value_if(entry, kSelfEnvName) ||
         (spec.socket_path && value_if(entry, kSocketEnvName));
}

// The value of the last LD_PRELOAD entry (the one the loader uses), or nullptr.
const char* last_preload(const char* const* envp) {
  const char* v = nullptr;
  for (; envp && *envp; ++envp)
    if (const char* p = value_if(*envp, kPreloadEnvName)) v = p;
  return v;
}

// Length of the LD_PRELOAD value we will write (without "LD_PRELOAD=" and NUL).
size_t preload_value_len(const char* old, const char* lib) {
  if (!old || !*old) return strlen(lib);
  if (preload_list_has(old, lib)) return strlen(old);
  return strlen(lib) + 1 + strlen(old);
}

char* put(char* out, const char* s) {
  size_t n = strlen(s);
  memcpy(out, s, n);
  return out + n;
}

bool parse_u32(const char*& p, char stop, uint32_t& out) {
  uint64_t v = 0;
  const char* start = p;
  while (*p >= '0' && *p <= '9') {
    v = v * 10 + uint64_t(*p - '0');
    if (v > 0xffffffffu) return false;
    ++p;
  }
  if (p == start || p - start > 10 || *p != stop) return false;
  out = uint32_t(v);
  return true;
}

size_t format_u32(uint32_t v, char* out) {
  char tmp[10];
  size_t i = 0;
  do tmp[i++] = char('0' + v % 10); while ((v /= 10) != 0);
  for (size_t j = 0; j < i; ++j) out[j] = tmp[i - 1 - j];
  return i;
}

}  // namespace

bool parse_self_env(const char* value, SelfEnv& out) {
  if (!value) return false;
  const char* p = value;
  SelfEnv s;
  if (!parse_u32(p, ':', s.vpid)) return false;
  ++p;
  if (!parse_u32(p, ':', s.real)) return false;
  ++p;
  if (!parse_u32(p, ':', s.parent)) return false;
  ++p;
  const char* last = p;
  if (!parse_u32(p, '\0', s.parent_real)) {
    p = last;
    uint32_t guest = 2;
    if (!parse_u32(p, ':', s.parent_real)) return false;
    ++p;
    if (!parse_u32(p, '\0', guest) || guest > 1) return false;
    s.guest = guest == 1;
  }
  out = s;
  return true;
}

size_t format_self_env(const SelfEnv& s, char* out) {
  size_t n = 0;
  const uint32_t f[4] = {s.vpid, s.real, s.parent, s.parent_real};
  for (int i = 0; i < 4; ++i) {
    if (i) out[n++] = ':';
    n += format_u32(f[i], out + n);
  }
  if (s.guest) {
    out[n++] = ':';
    out[n++] = '1';
  }
  out[n] = '\0';
  return n;
}

const char* take_env_entry(char** envp, const char* name) {
  if (!envp) return nullptr;
  const char* first = nullptr;
  char** w = envp;
  for (char** r = envp; *r; ++r) {
    if (const char* v = value_if(*r, name)) {
      if (!first) first = v;
      continue;
    }
    *w++ = *r;
  }
  *w = nullptr;
  return first;
}

bool preload_list_has(const char* list, const char* lib) {
  if (!list || !lib || !*lib) return false;
  size_t n = strlen(lib);
  for (const char* p = list; *p;) {
    while (*p == ':' || *p == ' ') ++p;
    const char* e = p;
    while (*e && *e != ':' && *e != ' ') ++e;
    if (size_t(e - p) == n && memcmp(p, lib, n) == 0) return true;
    p = e;
  }
  return false;
}

size_t injected_env_bytes(const char* const* envp, const InjectSpec& spec) {
  size_t kept = 0;
  for (const char* const* e = envp; e && *e; ++e)
    if (!is_ours(*e, spec)) ++kept;
  size_t pointers = kept + 3 + 1;  // + our three entries + NULL
  size_t text = 0;
  if (spec.lib_path)
    text += sizeof(kPreloadEnvName) + 1 + preload_value_len(last_preload(envp), spec.lib_path);
  else if (const char* old = last_preload(envp))
    text += sizeof(kPreloadEnvName) + 1 + strlen(old);
  if (spec.socket_path) text += sizeof(kSocketEnvName) + 1 + strlen(spec.socket_path);
  if (spec.self_value) text += sizeof(kSelfEnvName) + 1 + strlen(spec.self_value);
  return pointers * sizeof(char*) + text;
}

char** build_injected_env(const char* const* envp, const InjectSpec& spec, void* buf, size_t cap) {
  if (!buf || (reinterpret_cast<uintptr_t>(buf) & 7) || cap < injected_env_bytes(envp, spec))
    return nullptr;
  size_t kept = 0;
  for (const char* const* e = envp; e && *e; ++e)
    if (!is_ours(*e, spec)) ++kept;
  char** out = static_cast<char**>(buf);
  char* text = reinterpret_cast<char*>(out + kept + 3 + 1);
  size_t i = 0;
  for (const char* const* e = envp; e && *e; ++e)
    if (!is_ours(*e, spec)) out[i++] = const_cast<char*>(*e);

  const char* old = last_preload(envp);
  if (spec.lib_path || old) {
    out[i++] = text;
    text = put(text, kPreloadEnvName);
    *text++ = '=';
    if (!spec.lib_path) {
      text = put(text, old);
    } else if (!old || !*old) {
      text = put(text, spec.lib_path);
    } else if (preload_list_has(old, spec.lib_path)) {
      text = put(text, old);
    } else {
      text = put(text, spec.lib_path);
      *text++ = ':';
      text = put(text, old);
    }
    *text++ = '\0';
  }
  if (spec.socket_path) {
    out[i++] = text;
    text = put(text, kSocketEnvName);
    *text++ = '=';
    text = put(text, spec.socket_path);
    *text++ = '\0';
  }
  if (spec.self_value) {
    out[i++] = text;
    text = put(text, kSelfEnvName);
    *text++ = '=';
    text = put(text, spec.self_value);
    *text++ = '\0';
  }
  out[i] = nullptr;
  return out;
}

}  // namespace vproc::lib
