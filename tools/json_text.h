// JSON string literals for `vproc ps --json`, without a JSON library.
#pragma once

#include <string>
#include <string_view>

namespace vproc::tools {

// Appends `s` to `out` as a quoted JSON string. Quotes, backslashes and control
// characters are escaped; bytes that are not valid UTF-8 (argv is arbitrary
// bytes) become U+FFFD, so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

}  // namespace vproc::tools
