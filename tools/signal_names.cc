#include "signal_names.h"

#include <signal.h>
#include <string.h>
#include <strings.h>

#include <charconv>

namespace vproc::tools {
namespace {

// Names glibc's sigabbrev_np does not return but kill(1) accepts.
struct Alias {
  const char* name;
  int signo;
};
constexpr Alias kAliases[] = {{"IOT", SIGABRT}, {"CLD", SIGCHLD}, {"POLL", SIGIO}, {"PWR", SIGPWR}};

bool parse_uint(std::string_view s, int& out) {
  if (s.empty() || s.size() > 9 || s[0] < '0' || s[0] > '9') return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool iequals(std::string_view a, const char* b) { return a.size() == strlen(b) && strncasecmp(a.data(), b, a.size()) == 0; }

}  // namespace

int parse_signal(std::string_view text) {
  int n;
  if (parse_uint(text, n)) return n <= SIGRTMAX ? n : -1;
  if (text.size() > 3 && strncasecmp(text.data(), "SIG", 3) == 0) text.remove_prefix(3);
  for (int s = 1; s < SIGRTMIN; ++s) {
    const char* abbrev = sigabbrev_np(s);
    if (abbrev && iequals(text, abbrev)) return s;
  }
  for (const Alias& a : kAliases)
    if (iequals(text, a.name)) return a.signo;
  // RTMIN, RTMIN+N, RTMAX, RTMAX-N (glibc's SIGRTMIN is 34: 32 and 33 are its own).
  if (text.size() >= 5 && strncasecmp(text.data(), "RTMIN", 5) == 0) {
    if (text.size() == 5) return SIGRTMIN;
    if (text[5] == '+' && parse_uint(text.substr(6), n) && SIGRTMIN + n <= SIGRTMAX) return SIGRTMIN + n;
  } else if (text.size() >= 5 && strncasecmp(text.data(), "RTMAX", 5) == 0) {
    if (text.size() == 5) return SIGRTMAX;
    if (text[5] == '-' && parse_uint(text.substr(6), n) && SIGRTMAX - n >= SIGRTMIN) return SIGRTMAX - n;
  }
  return -1;
}

std::string signal_name(int signo) {
  if (signo <= 0 || signo > SIGRTMAX) return {};
  if (signo < SIGRTMIN) {
    const char* abbrev = sigabbrev_np(signo);
    return abbrev ? abbrev : "";
  }
  // Named from the nearer end, as bash's kill -l does.
  int mid = (SIGRTMIN + SIGRTMAX) / 2;
  if (signo == SIGRTMIN) return "RTMIN";
  if (signo == SIGRTMAX) return "RTMAX";
  if (signo <= mid) return "RTMIN+" + std::to_string(signo - SIGRTMIN);
  return "RTMAX-" + std::to_string(SIGRTMAX - signo);
}

std::string signal_list() {
  std::string out, line;
  for (int s = 1; s <= SIGRTMAX; ++s) {
    std::string name = signal_name(s);
    if (name.empty()) continue;
    if (!line.empty() && line.size() + 1 + name.size() > 79) {
      out += line + "\n";
      line.clear();
    }
    if (!line.empty()) line += ' ';
    line += name;
  }
  if (!line.empty()) out += line + "\n";
  return out;
}

std::string signal_translate(std::string_view arg) {
  int n;
  if (parse_uint(arg, n)) {
    if (n > 128 && n <= 128 + SIGRTMAX) n -= 128;  // an exit status "killed by N"
    return signal_name(n);
  }
  int s = parse_signal(arg);
  return s > 0 ? std::to_string(s) : std::string();
}

}  // namespace vproc::tools
