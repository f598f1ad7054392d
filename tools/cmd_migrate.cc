// vproc migrate (and the `migrate` program, tools/migrate_main.cc): move a
// running process to another node of the cluster (docs/cluster.md).
//
// The daemons do all the work: this node's daemon finds where the process
// runs and hands the migration to that node, which checkpoints it, sends the
// image and commits once the target has restored it. The command asks and
// waits for the outcome, however long a large image takes.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstring>

#include "ckpt_request.h"
#include "migrate_progress.h"
#include "migrate_summary.h"
#include "subcommand.h"
#include "tool_error.h"
#include "vpid_arg.h"

namespace vproc::tools {
namespace {

// No time limit on the answer (24 days): the daemons bound every step of a
// migration themselves, and the image may be large.
constexpr int kNoReplyTimeoutMs = INT_MAX;

constexpr const char kUsage[] =
    "Usage: vproc migrate [--embed-files] VPID HOST\n"
    "       migrate [--socket PATH] [--embed-files] VPID HOST\n"
    "Move the process VPID to HOST, another node of the vproc cluster (a name from\n"
    "the daemons' cluster file). The process keeps its virtual PID, its memory,\n"
    "threads and open files; its parent can still wait for it, signals sent to\n"
    "its VPID reach it, and its standard input and output stay where they were.\n"
    "\n"
    "  --embed-files  carry the pages of mapped files (the program, its libraries)\n"
    "                 in the image instead of expecting the same files on HOST\n"
    "\n"
    "Before the process is touched, HOST checks that it has the files the process\n"
    "uses at the same paths (mapped files: the same contents; open files: there\n"
    "and no shorter); if not, the migration is refused naming each one.\n"
    "\n"
    "The command waits until the migration is over, however long that takes;\n"
    "Ctrl-C stops the waiting, not the migration. On success it prints one line:\n"
    "  vpid 4194305: alpha \u2192 beta, 1.0 GiB, frozen 0.81 s, total 1.40 s\n"
    "(the image's size, how long the process was stopped, the whole migration).\n"
    "Meanwhile, if it takes longer than a moment and standard error is a terminal,\n"
    "a progress line there shows the stage and the bytes written or sent.\n"
    "If the migration fails, the process runs on where it was.\n"
    "Exit status: 0 the process runs on HOST; 1 the migration failed (the message\n"
    "says why); 2 usage error or unreachable daemon.\n";

struct Options {
  uint32_t flags = 0;
  std::vector<std::string> operands;
};

Options parse(const std::vector<std::string>& args) {
  Options o;
  bool options_done = false;
  for (const std::string& a : args) {
    if (!options_done && a == "--") {
      options_done = true;
    } else if (!options_done && a == "--embed-files") {
      o.flags |= kCkptEmbedFiles;
    } else if (!options_done && a.size() > 1 && a[0] == '-') {
      throw ToolError(kExitUsage, "unknown option '" + a + "' (see 'vproc migrate --help')");
    } else {
      o.operands.push_back(a);
    }
  }
  if (o.operands.empty()) throw ToolError(kExitUsage, "no VPID and HOST given (see 'vproc migrate --help')");
  if (o.operands.size() > 2) throw ToolError(kExitUsage, "one VPID and one HOST (see 'vproc migrate --help')");
  return o;
}

// The cluster file's rule for node names: [A-Za-z0-9._-]{1,63}.
std::string parse_node(const std::string& text) {
  bool ok = !text.empty() && text.size() < wire::kNodeNameBytes;
  for (char c : text) ok = ok && (isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-');
  if (!ok)
    throw ToolError(kExitUsage, "'" + text + "' is not a node name (letters, digits, '.', '_', '-'; at most 63)");
  return text;
}

// Ctrl-C while waiting: the migration is the daemons' business by now; say so
// and leave. The text is made before the handler can run (no allocation there).
char g_interrupt_note[160];
size_t g_interrupt_len = 0;

void on_interrupt(int) {
  (void)!write(STDERR_FILENO, g_interrupt_note, g_interrupt_len);
  _exit(128 + SIGINT);
}

// Returns the previous disposition, for restore_interrupt().
struct sigaction leave_on_interrupt(uint32_t vpid) {
  int n = snprintf(g_interrupt_note, sizeof g_interrupt_note,
                   "\nmigrate: no longer waiting; the migration of vpid %u goes on ('vproc ps' shows where it runs)\n",
                   vpid);
  g_interrupt_len = n > 0 ? std::min(size_t(n), sizeof g_interrupt_note - 1) : 0;
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  sigaction(SIGINT, &sa, &old);
  return old;
}

// Trailing newlines and spaces off a daemon's message; strerror if it is empty.
std::string message_or_errno(const char* message, int err) {
  std::string m = message;
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m.empty() ? std::string(strerror(err)) : m;
}

int run_migrate(CliContext& ctx, const std::vector<std::string>& args) {
  Options o = parse(args);
  uint32_t vpid = parse_vpid_arg(o.operands[0]);
  if (o.operands.size() < 2)
    throw ToolError(kExitUsage, "no HOST given: which node should vpid " + o.operands[0] + " move to?");
  std::string node = parse_node(o.operands[1]);

  wire::MigrateRequest req;
  req.vpid = vpid;
  req.flags = o.flags;
  req.node.set(node.c_str());
  DaemonClient& daemon = ctx.daemon();  // connect (and fail) before promising anything on Ctrl-C
  struct sigaction before = leave_on_interrupt(vpid);
  // On a terminal, a second connection asks how far the migration is while
  // this one waits for MigrateDone (migrate_progress.h).
  ProgressDisplay progress(daemon.socket_path(), vpid, node);
  wire::Reply rep;
  try {
    rep = daemon.call(req, kNoReplyTimeoutMs);
  } catch (...) {
    progress.stop();
    sigaction(SIGINT, &before, nullptr);
    throw;
  }
  progress.stop();  // its line erased before anything else is printed
  sigaction(SIGINT, &before, nullptr);
  // "vpid N: why", once: many of the daemons' reasons start with the vpid already.
  std::string failed = "vpid " + std::to_string(vpid) + ": ";
  auto fail_with = [&](const std::string& why) {
    if (why.rfind("vpid " + std::to_string(vpid) + " ", 0) == 0) return ToolError(kExitFailed, why);
    return ToolError(kExitFailed, failed + why);
  };
  if (auto* done = std::get_if<wire::MigrateDone>(&rep)) {
    if (done->err != 0) throw fail_with(message_or_errno(done->message.s, done->err));
    printf("%s\n", migrate_summary(vpid, *done).c_str());
    return 0;
  }
  if (auto* e = std::get_if<wire::Error>(&rep))
    throw fail_with(message_or_errno(e->message.s, e->err));
  throw DaemonError("unexpected reply to a migrate request from the vproc daemon at " + daemon.socket_path());
}

}  // namespace

const Subcommand kMigrateCommand{"migrate", "move a process to another node of the cluster", kUsage, run_migrate};

}  // namespace vproc::tools
