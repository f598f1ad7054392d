// The error convention of the command-line tools: a failure that ends the
// command is thrown as a ToolError carrying the exit status and a message
// (without the program name); main() prints "<program>: <message>" and exits.
//
// DaemonError is the kind of ToolError that means "the daemon could not be
// reached or answered nonsense". Each tool maps it to its own exit status
// (vproc: 2, vproc-run: 1), so it carries none.
#pragma once

#include <stdexcept>
#include <string>

namespace vproc::tools {

class ToolError : public std::runtime_error {
 public:
  ToolError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

class DaemonError : public ToolError {
 public:
  explicit DaemonError(const std::string& message) : ToolError(1, message) {}
};

}  // namespace vproc::tools
