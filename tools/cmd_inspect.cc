// vproc inspect: what a checkpoint image holds, read from the file alone (no
// daemon): the process, its memory map, files, fds, and each thread's stack.
#include <cstdio>

#include "backtrace.h"
#include "host_file.h"
#include "image_reader.h"
#include "inspect_render.h"
#include "subcommand.h"
#include "tool_error.h"

namespace vproc::tools {
namespace {

constexpr const char kUsage[] =
    "Usage: vproc inspect [--json] [--verify] IMAGE\n"
    "Show what the checkpoint image IMAGE holds: its format, the process (vpid,\n"
    "exe, argv, cwd, parent, uid, node, generation), the memory map (one line per\n"
    "vma: range, permissions, kind, bytes stored in the image, name), the files\n"
    "it maps and whether each is the same on this host (ok, missing, changed),\n"
    "the open fds, and every thread with its signal mask and backtrace.\n"
    "\n"
    "  --json    print one JSON object instead (addresses and hashes as \"0x..\" strings)\n"
    "  --verify  also read all page data and check its hashes\n"
    "\n"
    "Exit status: 0 success, 1 the image is unreadable or damaged, 2 usage error.\n";

int run_inspect(CliContext&, const std::vector<std::string>& args) {
  bool json = false, verify = false;
  std::string path;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") {
      json = true;
    } else if (a == "--verify") {
      verify = true;
    } else if (a == "--" && i + 1 < args.size() && path.empty()) {
      path = args[++i];
    } else if (a.size() > 1 && a[0] == '-') {
      throw ToolError(kExitUsage, "unknown option '" + a + "' (see 'vproc inspect --help')");
    } else if (path.empty()) {
      path = a;
    } else {
      throw ToolError(kExitUsage, "unexpected argument '" + a + "' (see 'vproc inspect --help')");
    }
  }
  if (path.empty()) throw ToolError(kExitUsage, "which image? (see 'vproc inspect --help')");

  try {
    image::ImageFile img = image::ImageFile::open(path);
    if (verify) img.verify_data();
    InspectReport r;
    r.path = path;
    r.image = &img.image();
    for (const image::MappedFile& f : img.image().files) r.files.push_back(image::check_host_file(f));
    for (const image::Thread& t : img.image().threads) r.stacks.push_back(image::backtrace(img, t));
    std::string out = json ? render_inspect_json(r) : render_inspect_text(r);
    fwrite(out.data(), 1, out.size(), stdout);
  } catch (const image::ImageError& e) {
    throw ToolError(kExitFailed, e.what());
  }
  return 0;
}

}  // namespace

const Subcommand kInspectCommand{"inspect", "show what a checkpoint image holds", kUsage, run_inspect};

}  // namespace vproc::tools
