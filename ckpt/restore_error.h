// The error of the restore side (tools context): the image cannot be restored
// here, and what() says why in words for the user, without the program name.
#pragma once

#include <stdexcept>
#include <string>

namespace vproc::restore {

struct RestoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace vproc::restore
