// How vproc-shadow treats signals. It stands for a process that runs on
// another node, so every catchable signal it gets is the guest's: it reads them
// from a signalfd and forwards them. It exits and stops the way the guest does.
#pragma once

namespace vproc::shadow {

// Clears what the original process left behind (handlers are reset by execve,
// but ignored signals, the signal mask and interval timers survive it), blocks
// every signal the shadow forwards, and returns a signalfd that reads them, or
// -errno. Forwarded: all but SIGKILL and SIGSTOP (uncatchable), SIGPIPE
// (ignored: its own writes report EPIPE) and SIGCHLD (default disposition,
// which discards it but, unlike SIG_IGN, leaves zombies for a wait).
int take_signals();

struct Arrived {
  int signo = 0;       // 0: none pending
  bool wake = false;   // SIGCONT from a daemon continuing a mirrored stop (shadow_wake.h)
};
// The next signal read from the signalfd.
Arrived next_signal(int signal_fd);

// Terminal stop signals: SIGTSTP, SIGTTIN, SIGTTOU.
bool is_terminal_stop(int signo);

// Stops this process with `sig` as the stop signal its parent's wait sees,
// until a SIGCONT, though the process blocks every signal. A terminal stop
// signal is discarded by the kernel in an orphaned process group: then
// SIGSTOP. Any SIGCONT pending before is dropped (it would not undo this stop).
void stop_with(int sig);

// Ends the shadow the way the guest ended (its wait status): the same exit
// code, or death by the same signal without a core dump (a signal whose
// default action is not to terminate: exit code 128 + signal).
[[noreturn]] void exit_like(int wait_status);

}  // namespace vproc::shadow
