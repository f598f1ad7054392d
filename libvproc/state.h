// The per-process state of libvproc: the library's one singleton.
//
// It lives in the library's .bss (no allocation), so a fork child gets a copy
// and an exec starts afresh (identity then comes from VPROC_SELF, see
// identity_env.h, or from the daemon).
#pragma once

#include <linux/limits.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "pid_types.h"
#include "shared_table.h"

namespace vproc::lib {

enum class InitState : int {
  None = 0,          // constructor has not run yet
  Initializing = 1,  // inside init (wrappers called from init see this)
  Active = 2,        // virtual PIDs in force
  Inactive = 3,      // no daemon / disabled: every wrapper passes through
};

// A child this process forked or spawned, until it is reaped. Packed so a slot is
// claimed and read with one atomic operation: vpid (high 32) | real pid (low 32).
struct ChildSlot {
  std::atomic<uint64_t> packed{0};
};
inline constexpr int kMaxChildren = 4096;

struct ProcessState {
  std::atomic<InitState> init{InitState::None};

  VPid self;             // this process's vpid; also its main thread's vtid
  RealPid self_real;     // the kernel pid it was computed for (fork/clone checks)
  uint32_t parent = 0;   // parent's vpid, or parent's real pid if not under vproc
  RealPid parent_real;   // the real pid of that parent
  uint32_t node_index = 0;

  TableView table;       // this node's shared table (read-only mapping)

  // vpids reserved by the daemon for this process's children and threads:
  // next (high 32) | end (low 32), taken with compare-and-swap.
  std::atomic<uint64_t> lease{0};

  ChildSlot children[kMaxChildren];

  // The program's SA_SIGINFO handlers, called by our trampoline (signals.cc).
  std::atomic<uintptr_t> user_sigaction[65];

  // Connection to the daemon (daemon_link.cc); -1 when not connected.
  std::atomic<int> conn_fd{-1};
  std::atomic<int> conn_busy{0};

  // File descriptors that are signalfds (their reads carry ssi_pid).
  std::atomic<uint64_t> signalfd_bits[1024 / 64];

  char socket_path[108] = {};
  char table_path[128] = {};
  char lib_path[PATH_MAX] = {};  // this library, re-injected into LD_PRELOAD on exec
};

// The state. Hidden symbol; the only global of the library.
ProcessState& state();

// This thread's vtid (0 until first needed). Initial-exec TLS: safe in handlers.
extern thread_local uint32_t t_vtid __attribute__((tls_model("initial-exec")));

// Runs the constructor's work if it has not run yet (wrappers called from other
// libraries' constructors). Returns true when virtual PIDs are active.
bool ensure_init();
inline bool active() {
  return state().init.load(std::memory_order_acquire) == InitState::Active || ensure_init();
}

}  // namespace vproc::lib
