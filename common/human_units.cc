#include "human_units.h"

#include <cstdio>

namespace vproc {

std::string human_bytes(uint64_t n) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  char buf[32];
  if (n < 1024) {
    snprintf(buf, sizeof buf, "%llu B", (unsigned long long)n);
    return buf;
  }
  double v = double(n);
  size_t unit = 0;
  // 1023.6 MiB would print as "1024 MiB": move on to "1.0 GiB" instead.
  while (v >= 1023.5 && unit + 1 < sizeof kUnits / sizeof *kUnits) {
    v /= 1024;
    ++unit;
  }
  snprintf(buf, sizeof buf, v < 9.95 ? "%.1f %s" : "%.0f %s", v, kUnits[unit]);
  return buf;
}

std::string human_duration(uint64_t ns) {
  char buf[32];
  double ms = double(ns) / 1e6;
  if (ms < 1) {
    snprintf(buf, sizeof buf, "%.2f ms", ms);
  } else if (ms < 99.95) {
    snprintf(buf, sizeof buf, "%.1f ms", ms);
  } else if (ms < 99995) {
    snprintf(buf, sizeof buf, "%.2f s", ms / 1000);
  } else {
    snprintf(buf, sizeof buf, "%.0f s", ms / 1000);
  }
  return buf;
}

}  // namespace vproc
