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

// The next signal read from the signalfd, or 0 when none is pending.
int next_signal(int signal_fd);

// Terminal stop signals (SIGTSTP, SIGTTIN, SIGTTOU): once forwarded, the
// shadow stops too, so the shell sees its job stop.
bool is_terminal_stop(int signo);

// Stops the shadow until a SIGCONT. With SIGSTOP: the stop signals it catches
// would not stop it.
void stop_self();

// Ends the shadow the way the guest ended (its wait status): the same exit
// code, or death by the same signal without a core dump (a signal whose
// default action is not to terminate: exit code 128 + signal).
[[noreturn]] void exit_like(int wait_status);

}  // namespace vproc::shadow
