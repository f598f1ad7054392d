// Where a node's daemon socket and shared table live. No allocation: usable from
// the preload library's constructor.
#pragma once

#include <cstddef>

namespace vproc {

// The socket a client should use. Order:
//   1. $VPROC_SOCKET if set and non-empty;
//   2. /run/vproc/vprocd.sock for root, and for other users when that socket exists
//      (a system-wide daemon serves every user; it checks credentials itself);
//   3. $XDG_RUNTIME_DIR/vproc/vprocd.sock;
//   4. /tmp/vproc-<uid>/vprocd.sock.
// Returns false if the result does not fit in `len`.
bool resolve_socket_path(char* out, size_t len);

// The socket path a daemon started by this user should create (same order, but
// step 2 only for root).
bool default_daemon_socket_path(char* out, size_t len);

// The shared table that belongs to `socket_path`: the same name with ".table"
// in place of a trailing ".sock" (or appended).
bool table_path_for(const char* socket_path, char* out, size_t len);

}  // namespace vproc
