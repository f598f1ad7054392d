// The environment that carries a process's identity across exec (pure text
// work: no syscalls, no allocation; also built into the unit tests).
//
// A new image learns who it is from
//   VPROC_SELF=<vpid>:<real pid or 0>:<parent>:<parent real pid>[:1]
// (real pid 0: posix_spawn, where the child's pid is not known before it runs;
// ":1": a migrated process, a guest, that exec'd: its parent does not run here
// and its kernel parent is not its parent, see state.h),
// finds the daemon through VPROC_SOCKET, and gets the library again through
// LD_PRELOAD even if the program removed it from its environment.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vproc::lib {

inline constexpr char kSelfEnvName[] = "VPROC_SELF";
inline constexpr char kSocketEnvName[] = "VPROC_SOCKET";
inline constexpr char kPreloadEnvName[] = "LD_PRELOAD";

struct SelfEnv {
  uint32_t vpid = 0;
  uint32_t real = 0;  // 0: not known when the environment was built (spawn)
  uint32_t parent = 0;
  uint32_t parent_real = 0;
  bool guest = false;  // written only when set (the fifth field)
};
// "4294967295:4294967295:4294967295:4294967295:1" plus NUL.
inline constexpr size_t kSelfEnvValueMax = 4 * 10 + 3 + 2 + 1;

// Parses a VPROC_SELF value: four decimal fields that fit in 32 bits,
// separated by ':', and optionally a fifth, 0 or 1 (guest). False on anything
// else (no partial results are used).
bool parse_self_env(const char* value, SelfEnv& out);

// Writes the VPROC_SELF value for `self` into `out` (kSelfEnvValueMax bytes);
// returns its length.
size_t format_self_env(const SelfEnv& self, char* out);

// Removes every `name`=... entry from the NULL-terminated array `envp`, in place
// (later entries move down; the strings themselves are not touched). Returns the
// value of the first such entry, or nullptr if there was none.
const char* take_env_entry(char** envp, const char* name);

// True if the LD_PRELOAD list `list` (entries separated by ':' or ' ', as the
// dynamic loader reads it) contains exactly `lib`.
bool preload_list_has(const char* list, const char* lib);

// What build_injected_env puts into the new image's environment.
struct InjectSpec {
  const char* lib_path = nullptr;     // must be in LD_PRELOAD (prepended if absent)
  const char* socket_path = nullptr;  // VPROC_SOCKET; nullptr: leave as it is
  const char* self_value = nullptr;   // VPROC_SELF; nullptr: drop any VPROC_SELF
};

// Bytes build_injected_env needs for `envp` (nullptr = empty environment).
size_t injected_env_bytes(const char* const* envp, const InjectSpec& spec);

// Builds the new environment in `buf` (8-byte aligned, `cap` bytes): a
// NULL-terminated pointer array followed by the strings it needs. Entries that
// are not ours are kept (pointing at the caller's strings), in order; every
// LD_PRELOAD, VPROC_SOCKET and VPROC_SELF entry is replaced by one of each at the
// end. The dynamic loader honours the LAST LD_PRELOAD entry, so that is the list
// extended. Returns the array, or nullptr if `cap` is too small.
char** build_injected_env(const char* const* envp, const InjectSpec& spec, void* buf, size_t cap);

}  // namespace vproc::lib
