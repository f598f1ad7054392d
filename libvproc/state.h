// The per-process state of libvproc: the library's one singleton.
//
// It lives in the library's static data (no allocation), so a fork child gets a
// copy and an exec starts afresh (identity then comes from VPROC_SELF, see
// env_inject.h, or from the daemon).
#pragma once

#include <linux/limits.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "children.h"
#include "ckpt_state.h"
#include "pid_types.h"
#include "raw_syscall.h"
#include "shared_table.h"
#include "wire.h"
#include "zero_fd.h"

namespace vproc::lib {

enum class InitState : int {
  None = 0,          // constructor has not run yet
  Initializing = 1,  // inside init (wrappers called from init see this)
  Active = 2,        // virtual PIDs in force
  Inactive = 3,      // no daemon / disabled: every wrapper passes through
};

// A one-way message the daemon could not take yet (daemon_link.cc): a Spawned,
// or a Reaped (`reaped`, of spawned.vpid). `seq` keeps the re-send order (a
// Reaped must not overtake its Spawned). Not a wire::Request: that is large,
// and its default value is not all zero bits (zero_fd.h says why that matters).
struct PendingMsg {
  std::atomic<uint32_t> phase{0};  // 0 free, 1 being written, 2 ready
  uint64_t seq = 0;
  bool reaped = false;
  wire::Spawned spawned;
};
inline constexpr int kMaxPending = 64;
inline constexpr int kMaxDeferred = 16;

// A stream returned by our popen(): pclose() must find the child to wait for.
struct PopenSlot {
  std::atomic<uintptr_t> file{0};  // FILE*; 1 while the slot is being filled
  pid_t pid = 0;                   // what the program sees (a vpid)
  ZeroFd fd;                       // the parent's end, closed in later popen children
};
inline constexpr int kMaxPopen = 256;

// A process sharing our memory: clone() with CLONE_VM but not CLONE_THREAD
// (a hand-made vfork, as runtimes do before exec). It has no ProcessState of its
// own, so what it needs until it execs lives here (vm_child.cc).
struct VmChildSlot {
  std::atomic<uint32_t> claimed{0};
  std::atomic<uint32_t> real{0};  // its kernel pid, once known
  uint32_t vpid = 0;              // 0: none could be had (degraded)
  int (*fn)(void*) = nullptr;     // the program's child function and argument
  void* arg = nullptr;
  uint64_t saved_mask = 0;        // the signal mask to run fn with
  std::atomic<uintptr_t> env_map{0};  // the environment its exec built, unmapped by us
  size_t env_len = 0;
};
inline constexpr int kMaxVmChildren = 64;

// One-time notices on stderr (bits of ProcessState::notices).
enum Notice : uint32_t {
  kNoticeDegradedFork = 1,
  kNoticeQueueFull = 2,
};

struct alignas(4096) ProcessState {  // page-aligned: fork writes only its first page
  std::atomic<InitState> init{InitState::None};
  std::atomic<int> init_tid{0};  // the thread running init (others wait for it)

  VPid self;             // this process's vpid; also its main thread's vtid
  RealPid self_real;     // the kernel pid it was computed for (fork/clone checks)
  uint32_t parent = 0;   // parent's vpid, or parent's real pid if not under vproc
  RealPid parent_real;   // the real pid of that parent
  uint32_t node_index = 0;
  // Brought here by a migration (docs/cluster.md): the kernel's parent is the
  // keeper of `vproc restore --guest`; `parent` stays the one the program was
  // born to, which does not run here (parent_real is 0). Not inherited.
  bool guest = false;

  TableView table;       // this node's shared table (read-only mapping)

  // vpids reserved by the daemon for this process's children and threads:
  // next (high 32) | end (low 32), taken with compare-and-swap.
  std::atomic<uint64_t> lease{0};
  std::atomic<uint32_t> lease_refills{0};  // refill size grows 16 -> 64 -> 256

  // Children not reaped yet (children.h); use through child_table().
  std::atomic<int> children_used{0};  // slots at or above this index are all empty

  // Connection to the daemon (daemon_link.cc); -1 when not connected.
  AtomicFd conn_fd;
  std::atomic<int> conn_busy{0};  // tid of the thread using the link, 0 when free
  // Reaped messages waiting to go out with the next message (daemon_link.cc);
  // touched only with the link held.
  int deferred_count = 0;
  uint32_t deferred_reaped[kMaxDeferred] = {};
  // The spawn ring (common/spawn_ring.h, daemon_link.cc): its mapping, how many
  // one-way messages went out without one (it is made for the second), and
  // whether no ring is to be written (the daemon refused it, or stopped
  // reading it) until the daemon restarts. With the link held; reset in fork
  // children.
  uintptr_t ring = 0;
  uint32_t ring_uses = 0;
  bool ring_refused = false;

  // The fork in progress (fork_identity.cc), claimed with the forking thread's
  // real tid. Here rather than in TLS because the parent writes this page after
  // every fork anyway; a thread that finds it taken (another thread forking, or
  // a signal handler forking inside a fork) uses its own t_fork.
  std::atomic<int> fork_owner{0};
  VPid fork_v;
  uint32_t fork_parent = 0;
  RealPid fork_parent_real;

  // Everything above is what fork() writes, in the parent and in the child: kept
  // together so that the copy-on-write faults a fork causes touch one page of this
  // state, not several (measured: each fault costs microseconds in a VM).

  ChildSlot children[kMaxChildren];

  // The program's SA_SIGINFO handlers, called by our trampoline (signals.cc).
  std::atomic<uintptr_t> user_sigaction[65];

  uint64_t conn_dev = 0, conn_ino = 0;  // identity of conn_fd's socket (program may reuse the number)
  std::atomic<uint64_t> link_generation{0};  // table generation our registration belongs to
  PendingMsg pending[kMaxPending];
  std::atomic<uint64_t> pending_seq{0};

  std::atomic<uint32_t> notices{0};

  VmChildSlot vm_children[kMaxVmChildren];

  PopenSlot popen_files[kMaxPopen];
  // system(): SIGINT/SIGQUIT are ignored while any call runs (wrap_system.cc).
  std::atomic<int> system_lock{0};
  int system_users = 0;
  struct sigaction system_saved_int = {}, system_saved_quit = {};

  // File descriptors that are signalfds (their reads carry ssi_pid).
  std::atomic<uint64_t> signalfd_bits[1024 / 64];

  char socket_path[108] = {};
  char table_path[128] = {};
  char lib_path[PATH_MAX] = {};  // this library, re-injected into LD_PRELOAD on exec

  CkptState ckpt;  // the checkpointer (ckpt_*.cc)
};

// The state: the only global of the library (hidden). Inline access keeps
// getpid() at a load and a compare.
extern ProcessState g_process_state;
inline ProcessState& state() { return g_process_state; }
inline ChildTable child_table() {
  return ChildTable(state().children, &state().children_used, kMaxChildren);
}

// This thread's vtid (0 until first needed). Initial-exec TLS: safe in handlers.
// __thread rather than thread_local: no dynamic initialization, so no TLS
// wrapper call on every access from another file.
extern __thread uint32_t t_vtid __attribute__((tls_model("initial-exec")));

// A fork in progress on this thread: what the child becomes (fork_identity.cc).
struct ForkInFlight {
  VPid v;
  uint32_t parent = 0;
  RealPid parent_real;
  bool pending = false;
};
extern __thread ForkInFlight t_fork __attribute__((tls_model("initial-exec")));
// This thread's real tid, cached on first need (written once per thread, so a
// fork does not dirty the TLS page). A fork child's thread sets its own.
extern __thread int t_real_tid __attribute__((tls_model("initial-exec")));
// That tid, asked of the kernel the first time.
inline int cached_real_tid() {
  if (t_real_tid == 0) t_real_tid = int(raw::sys(SYS_gettid));
  return t_real_tid;
}

// Runs the constructor's work if it has not run yet (wrappers called from other
// libraries' constructors). Returns true when virtual PIDs are active.
bool ensure_init();
inline bool active() {
  return state().init.load(std::memory_order_acquire) == InitState::Active || ensure_init();
}

}  // namespace vproc::lib
