// /proc/self/maps, parsed without allocation (snapshot writer and restore).
#pragma once

#include <cstdint>

#include "ckpt_scratch.h"

namespace vproc::lib {

struct MapEntry {
  uint64_t start, end;
  uint32_t prot;  // PROT_*
  bool shared;
  uint64_t offset;
  uint64_t dev;  // makedev(major, minor)
  uint64_t ino;
  const char* name;  // "" for anonymous; "[heap]", "/path", "/path (deleted)"
};

struct MapList {
  MapEntry* entries = nullptr;
  int count = 0;
};

// Reads and parses /proc/self/maps into `scratch`. False if it cannot.
bool read_maps(Scratch& scratch, MapList& out);

// Reads a whole small /proc file into `scratch` (NUL-terminated); length or -errno.
long read_proc_file(Scratch& scratch, const char* path, char** out);

}  // namespace vproc::lib
