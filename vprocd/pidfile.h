// --pidfile: the daemon's pid for init scripts. Written atomically (temp file +
// rename) once the daemon serves; removed on clean exit if it still names us.
#pragma once

#include <string>

#include "status.h"

namespace vproc::daemon {

Status write_pidfile(const std::string& path, int pid);
void remove_pidfile(const std::string& path, int pid);

}  // namespace vproc::daemon
