#pragma once

#include "wire.h"

namespace vproc::lib {

// One request and its reply over a new connection. 0 or -errno.
int ckpt_daemon_call(const wire::Request& req, wire::Reply& reply);

}  // namespace vproc::lib
