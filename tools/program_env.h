// The environment vproc-run hands to the program (and the one it hands to a
// daemon it starts). Pure string work, so it is unit-tested.
#pragma once

#include <string>
#include <vector>

namespace vproc::tools {

// `ld_preload` (entries separated by ' ' or ':', as ld.so reads them) without
// any libvproc.so / libvproc.so.N, re-joined with ':'.
std::string without_libvproc(const std::string& ld_preload);

// `env` (NAME=VALUE strings) with LD_PRELOAD = `lib` followed by the entries
// of the last LD_PRELOAD (the one ld.so reads) minus any other libvproc,
// VPROC_SOCKET = `socket` and VPROC_SELF = `self` (docs/design.md, "Identity
// across exec").
std::vector<std::string> program_environment(char* const* env, const std::string& lib, const std::string& socket,
                                             const std::string& self);

// `env` without VPROC_SELF and with libvproc removed from LD_PRELOAD: a daemon
// must not run under the library it serves.
std::vector<std::string> daemon_environment(char* const* env);

// NULL-terminated pointers into `strings` (valid while `strings` lives).
std::vector<char*> c_strings(std::vector<std::string>& strings);

}  // namespace vproc::tools
