// Signal names and numbers as kill(1) spells them: "TERM", "SIGTERM", "term",
// "15", "RTMIN+3", "RTMAX-1".
#pragma once

#include <string>
#include <string_view>

namespace vproc::tools {

// The signal number for a name (with or without "SIG", any case) or a decimal
// number in 0..SIGRTMAX; -1 if it names no signal.
int parse_signal(std::string_view text);

// The name without "SIG" ("TERM", "RTMIN+2"); "" for a number that is no signal
// (0, or glibc's reserved 32 and 33).
std::string signal_name(int signo);

// `kill -l`: every signal name, space-separated, wrapped at 80 columns.
std::string signal_list();

// `kill -l ARG`: a number (or an exit status 128+N) -> its name, a name -> its
// number; "" if ARG is neither.
std::string signal_translate(std::string_view arg);

}  // namespace vproc::tools
