// printf-style formatting into a std::string (gcc 12 has no std::format).
#pragma once

#include <string>

namespace vproc::daemon {

std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace vproc::daemon
