// How `vproc inspect` shows a checkpoint image: text for people, JSON for
// programs. Pure functions of what cmd_inspect.cc gathered (the image, the
// state of its files on this host, each thread's backtrace).
#pragma once

#include <string>
#include <vector>

#include "backtrace.h"
#include "host_file.h"
#include "image_model.h"

namespace vproc::tools {

struct InspectReport {
  std::string path;
  const image::Image* image = nullptr;
  std::vector<image::HostFileCheck> files;       // per Image::files entry
  std::vector<std::vector<image::Frame>> stacks;  // per Image::threads entry
};

std::string render_inspect_text(const InspectReport& r);
std::string render_inspect_json(const InspectReport& r);

// "r-xp": protection and private/shared, as /proc/PID/maps shows them.
std::string vma_perms(const image::Vma& v);
// Bytes of V that the image stores (chunks may cover part of it).
uint64_t stored_bytes(const image::Image& img, const image::Vma& v);

}  // namespace vproc::tools
