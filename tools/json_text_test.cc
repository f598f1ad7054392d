#include "json_text.h"

#include <catch2/catch.hpp>

using namespace vproc::tools;

static std::string json(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST_CASE("JSON strings escape quotes, backslashes and control characters") {
  CHECK(json("plain") == "\"plain\"");
  CHECK(json("") == "\"\"");
  CHECK(json("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json("\n\t\r\b\f") == "\"\\n\\t\\r\\b\\f\"");
  CHECK(json(std::string_view("\x01\x1f\x7f", 3)) == "\"\\u0001\\u001f\\u007f\"");
  CHECK(json(std::string_view("a\0b", 3)) == "\"a\\u0000b\"");
}

TEST_CASE("JSON strings keep valid UTF-8 and replace invalid bytes") {
  CHECK(json("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80") == "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  CHECK(json("\xFF") == "\"\\ufffd\"");
  CHECK(json("\xC3") == "\"\\ufffd\"");                  // truncated sequence
  CHECK(json("\xC0\xAF") == "\"\\ufffd\\ufffd\"");       // overlong '/'
  CHECK(json("\xED\xA0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");  // surrogate
  CHECK(json("\xF4\x90\x80\x80") == "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // above U+10FFFF
  CHECK(json("ok\xE2\x82") == "\"ok\\ufffd\\ufffd\"");
}
