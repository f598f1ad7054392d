#pragma once

#include "wire.h"

namespace vproc::lib {

// One request and its reply over a new connection, each step bounded by
// `timeout_s` seconds (0: the reply may take any time). 0 or -errno.
int ckpt_daemon_call(const wire::Request& req, wire::Reply& reply, int timeout_s = 30);

}  // namespace vproc::lib
