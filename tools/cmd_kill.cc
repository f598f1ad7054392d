// vproc kill: send a signal to processes by virtual PID, like kill(1).
//
// The daemon delivers the signal and applies kill(2)'s permission rule to the
// caller it sees on the socket, so this tool needs no privileges of its own.
#include <signal.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "signal_names.h"
#include "subcommand.h"
#include "tool_error.h"
#include "vpid_space.h"

namespace vproc::tools {
namespace {

constexpr const char kUsage[] =
    "Usage: vproc kill [-SIGNAL | -s SIGNAL | -n NUMBER] [--] VPID|-VPID...\n"
    "       vproc kill -l [SIGNAL|NUMBER]...\n"
    "Send a signal (default TERM) to processes by virtual PID. A negative VPID\n"
    "names the process group that process leads; before a signal is given it must\n"
    "follow '--' (vproc kill -- -4194305), as with kill(1).\n"
    "\n"
    "  -SIGNAL, -s SIGNAL  a signal name (KILL, SIGKILL, kill, RTMIN+1) or number\n"
    "  -n NUMBER           a signal number\n"
    "  -l, --list          list the signal names; with arguments, translate each\n"
    "                      name to its number and each number (or exit status\n"
    "                      128+N) to its name\n"
    "Signal 0 only checks that the process exists and may be signalled.\n"
    "Exit status: 0 if every target was signalled, 1 if any failed, 2 for a\n"
    "usage error or an unreachable daemon.\n";

bool parse_target(const std::string& text, int64_t& out) {
  const char* b = text.data();
  const char* e = b + text.size();
  auto [p, ec] = std::from_chars(b, e, out);
  return !text.empty() && ec == std::errc() && p == e;
}

int list_signals(const std::vector<std::string>& args, size_t from) {
  if (from == args.size()) {
    fputs(signal_list().c_str(), stdout);
    return 0;
  }
  int status = 0;
  for (size_t i = from; i < args.size(); ++i) {
    std::string t = signal_translate(args[i]);
    if (t.empty()) {
      fprintf(stderr, "vproc kill: unknown signal '%s'\n", args[i].c_str());
      status = kExitFailed;
    } else {
      printf("%s\n", t.c_str());
    }
  }
  return status;
}

int signal_value(const std::string& text) {
  int s = parse_signal(text);
  if (s < 0) throw ToolError(kExitUsage, "unknown signal '" + text + "' ('vproc kill -l' lists them)");
  return s;
}

int run_kill(CliContext& ctx, const std::vector<std::string>& args) {
  int signo = SIGTERM;
  bool signal_given = false;
  std::vector<std::string> targets;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      targets.insert(targets.end(), args.begin() + long(i) + 1, args.end());
      break;
    }
    bool numeric_negative = a.size() > 1 && a[0] == '-' && a.find_first_not_of("0123456789", 1) == std::string::npos;
    if (a == "-l" || a == "--list") {
      return list_signals(args, i + 1);
    } else if (a == "-s" || a == "-n") {
      if (++i == args.size()) throw ToolError(kExitUsage, "option '" + a + "' needs a signal");
      if (a == "-n" && args[i].find_first_not_of("0123456789") != std::string::npos)
        throw ToolError(kExitUsage, "option '-n' needs a signal number, not '" + args[i] + "'");
      signo = signal_value(args[i]);
      signal_given = true;
    } else if (numeric_negative && (signal_given || !targets.empty())) {
      targets.push_back(a);  // after a signal, -N is a process group (as in kill(1))
    } else if (a.size() > 1 && a[0] == '-' && !signal_given && targets.empty()) {
      int s = parse_signal(a.substr(1));
      if (s < 0) {
        std::string hint = numeric_negative ? " (for a process group use 'vproc kill -- " + a + "')"
                                            : " ('vproc kill -l' lists them)";
        throw ToolError(kExitUsage, "unknown signal '" + a.substr(1) + "'" + hint);
      }
      signo = s;
      signal_given = true;
    } else if (a.size() > 1 && a[0] == '-' && !numeric_negative) {
      throw ToolError(kExitUsage, "unknown option '" + a + "' (see 'vproc kill --help')");
    } else {
      targets.push_back(a);
    }
  }
  if (targets.empty()) throw ToolError(kExitUsage, "no process given (see 'vproc kill --help')");

  int status = 0;
  for (const std::string& t : targets) {
    int64_t target;
    if (!parse_target(t, target)) {
      fprintf(stderr, "vproc kill: failed to parse argument: '%s'\n", t.c_str());
      status = kExitFailed;
      continue;
    }
    if (!valid_vpid(target < 0 ? -target : target)) {
      fprintf(stderr, "vproc kill: (%s) - not a virtual PID (vproc's PIDs are %u and above; kill(1) signals real PIDs)\n",
              t.c_str(), kRealPidLimit);
      status = kExitFailed;
      continue;
    }
    wire::Reply rep = ctx.daemon().call(wire::Signal{target, signo});
    if (auto* e = std::get_if<wire::Error>(&rep)) {
      // kill(1)'s words for its own errors; the daemon's message for the rest
      // (a node of the cluster that cannot be reached, say).
      bool plain = e->err == ESRCH || e->err == EPERM || e->err == EINVAL;
      std::string why = plain ? strerror(e->err) : describe(*e);
      fprintf(stderr, "vproc kill: (%s) - %s\n", t.c_str(), why.c_str());
      status = kExitFailed;
    } else if (!std::holds_alternative<wire::Ok>(rep)) {
      throw DaemonError("unexpected reply to a signal request from the vproc daemon at " +
                        ctx.daemon().socket_path());
    }
  }
  return status;
}

}  // namespace

const Subcommand kKillCommand{"kill", "send a signal to processes by virtual PID", kUsage, run_kill};

}  // namespace vproc::tools
