// The daemon's error convention.
//
// Every daemon operation that can fail returns a Status: an errno value (what a
// client receives in wire::Error, and what a test checks) plus a message for
// humans (logged, or sent back). err == 0 is success. Functions that merely look
// something up in /proc return bool instead: "not there" is an answer, not an error.
#pragma once

#include <string>
#include <utility>

namespace vproc::daemon {

struct [[nodiscard]] Status {
  int err = 0;
  std::string message;

  bool ok() const { return err == 0; }
  static Status success() { return {}; }
  static Status failure(int err, std::string message) { return {err, std::move(message)}; }
};

}  // namespace vproc::daemon
