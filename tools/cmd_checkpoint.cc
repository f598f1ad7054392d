// vproc checkpoint: write a checkpoint image of a process by virtual PID.
//
// The daemon checks the request, signals the process (its libvproc handler
// forks a snapshot writer) and answers when the writer has reported, so this
// command only waits; the daemon enforces the real time limits.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "ckpt_request.h"
#include "checkpoint_summary.h"
#include "subcommand.h"
#include "tool_error.h"
#include "vpid_arg.h"

namespace vproc::tools {
namespace {

// Generous: a large process takes a while to write. The daemon gives up on
// a process that does not answer within 10 s, or a writer that dies.
constexpr int kCheckpointTimeoutMs = 10 * 60 * 1000;
// The daemon's limit (the writer appends ".tmp-PID" and reports the path back).
constexpr size_t kMaxPathBytes = 1000;

constexpr uint32_t kFlagStop = kCkptStop;
constexpr uint32_t kFlagEmbedFiles = kCkptEmbedFiles;

constexpr const char kUsage[] =
    "Usage: vproc checkpoint [--stop] [--embed-files] [-o IMAGE] VPID\n"
    "Write a checkpoint image of the process VPID ('vproc restore IMAGE' brings it\n"
    "back). The process is frozen only while it forks a copy of itself; the copy\n"
    "writes the image while the process runs on.\n"
    "\n"
    "  -o, --output IMAGE  the image file (default: ./vpid-VPID.vpimg). It is\n"
    "                      written as IMAGE.tmp-PID and renamed when complete, so\n"
    "                      IMAGE is always a whole image.\n"
    "  --stop              stop the process (SIGSTOP) once the image is complete,\n"
    "                      so that it does not run on past its checkpoint\n"
    "  --embed-files       store the pages of mapped files in the image instead of\n"
    "                      referring to the files (for a host without them)\n"
    "On success it prints one line with the image's size and the times.\n"
    "Exit status: 0 the image is complete; 1 the checkpoint failed (the message\n"
    "says why, e.g. each resource that cannot be saved yet); 2 usage error or\n"
    "unreachable daemon.\n";

struct Options {
  uint32_t flags = 0;
  std::string image;
  std::string vpid_text;
};

Options parse(const std::vector<std::string>& args) {
  Options o;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!options_done && a == "--") {
      options_done = true;
    } else if (!options_done && a == "--stop") {
      o.flags |= kFlagStop;
    } else if (!options_done && a == "--embed-files") {
      o.flags |= kFlagEmbedFiles;
    } else if (!options_done && (a == "-o" || a == "--output")) {
      if (++i == args.size()) throw ToolError(kExitUsage, "option '" + a + "' needs an IMAGE path");
      o.image = args[i];
    } else if (!options_done && a.rfind("--output=", 0) == 0) {
      o.image = a.substr(strlen("--output="));
    } else if (!options_done && a.size() > 2 && a.rfind("-o", 0) == 0) {
      o.image = a.substr(2);
    } else if (!options_done && a.size() > 1 && a[0] == '-') {
      throw ToolError(kExitUsage, "unknown option '" + a + "' (see 'vproc checkpoint --help')");
    } else if (o.vpid_text.empty()) {
      o.vpid_text = a;
    } else {
      throw ToolError(kExitUsage, "one VPID at a time (see 'vproc checkpoint --help')");
    }
  }
  if (o.vpid_text.empty()) throw ToolError(kExitUsage, "no VPID given (see 'vproc checkpoint --help')");
  return o;
}

// The daemon writes where we mean: relative paths are ours, not its.
std::string absolute_image(const std::string& image) {
  if (image.empty()) throw ToolError(kExitUsage, "the IMAGE path is empty");
  std::string path = image;
  if (path[0] != '/') {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
      throw ToolError(kExitFailed, std::string("cannot resolve the image path: ") + strerror(errno));
    path = std::string(cwd) + (strcmp(cwd, "/") == 0 ? "" : "/") + (path.rfind("./", 0) == 0 ? path.substr(2) : path);
  }
  if (path.size() > kMaxPathBytes)
    throw ToolError(kExitUsage, "the image path is too long (" + std::to_string(path.size()) + " bytes; at most " +
                                    std::to_string(kMaxPathBytes) + ")");
  return path;
}

// The daemon's (or the writer's) message says it all; it may span lines (a
// refusal lists each resource that cannot be saved).
std::string message_or_errno(const char* message, int err) {
  std::string m = message;
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m.empty() ? std::string(strerror(err)) : m;
}

int run_checkpoint(CliContext& ctx, const std::vector<std::string>& args) {
  Options o = parse(args);
  uint32_t vpid = parse_vpid_arg(o.vpid_text);
  std::string path = absolute_image(o.image.empty() ? "vpid-" + std::to_string(vpid) + ".vpimg" : o.image);

  wire::CheckpointRequest req;
  req.vpid = vpid;
  req.flags = o.flags;
  req.path.set(path.c_str());
  wire::Reply rep = ctx.daemon().call(req, kCheckpointTimeoutMs);
  if (auto* done = std::get_if<wire::CheckpointDone>(&rep)) {
    const wire::CheckpointResult& r = done->result;
    if (r.err != 0) throw ToolError(kExitFailed, message_or_errno(r.message.s, r.err));
    printf("%s\n", checkpoint_summary(r, r.path.s[0] ? r.path.s : path).c_str());
    return 0;
  }
  if (auto* e = std::get_if<wire::Error>(&rep)) throw ToolError(kExitFailed, message_or_errno(e->message.s, e->err));
  throw DaemonError("unexpected reply to a checkpoint request from the vproc daemon at " +
                    ctx.daemon().socket_path());
}

}  // namespace

const Subcommand kCheckpointCommand{"checkpoint", "write a checkpoint image of a process", kUsage, run_checkpoint};

}  // namespace vproc::tools
