#include "program_env.h"

#include <cstring>
#include <string_view>

namespace vproc::tools {
namespace {

bool is_libvproc(std::string_view entry) {
  size_t slash = entry.rfind('/');
  std::string_view base = slash == std::string_view::npos ? entry : entry.substr(slash + 1);
  constexpr std::string_view kName = "libvproc.so";
  return base == kName || (base.substr(0, kName.size()) == kName && base.size() > kName.size() &&
                           base[kName.size()] == '.');
}

bool has_name(const char* entry, std::string_view name) {
  return strncmp(entry, name.data(), name.size()) == 0 && entry[name.size()] == '=';
}

}  // namespace

std::string without_libvproc(const std::string& ld_preload) {
  std::string out;
  size_t i = 0;
  while (i < ld_preload.size()) {
    size_t end = ld_preload.find_first_of(" :", i);
    if (end == std::string::npos) end = ld_preload.size();
    std::string_view entry(ld_preload.data() + i, end - i);
    if (!entry.empty() && !is_libvproc(entry)) {
      if (!out.empty()) out += ':';
      out += entry;
    }
    i = end + 1;
  }
  return out;
}

std::vector<std::string> program_environment(char* const* env, const std::string& lib, const std::string& socket,
                                             const std::string& self) {
  std::vector<std::string> out;
  std::string preload = lib;
  const char* previous = nullptr;  // ld.so uses the last LD_PRELOAD entry
  for (char* const* e = env; e && *e; ++e) {
    if (has_name(*e, "LD_PRELOAD"))
      previous = *e + strlen("LD_PRELOAD=");
    else if (!has_name(*e, "VPROC_SOCKET") && !has_name(*e, "VPROC_SELF"))
      out.emplace_back(*e);
  }
  if (previous) {
    std::string rest = without_libvproc(previous);
    if (!rest.empty()) preload += ":" + rest;
  }
  out.push_back("LD_PRELOAD=" + preload);
  out.push_back("VPROC_SOCKET=" + socket);
  out.push_back("VPROC_SELF=" + self);
  return out;
}

std::vector<std::string> daemon_environment(char* const* env) {
  std::vector<std::string> out;
  const char* previous = nullptr;
  for (char* const* e = env; e && *e; ++e) {
    if (has_name(*e, "LD_PRELOAD"))
      previous = *e + strlen("LD_PRELOAD=");
    else if (!has_name(*e, "VPROC_SELF"))
      out.emplace_back(*e);
  }
  if (previous) {
    std::string rest = without_libvproc(previous);
    if (!rest.empty()) out.push_back("LD_PRELOAD=" + rest);
  }
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace vproc::tools
