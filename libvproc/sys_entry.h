// System-call-level entry points of the wrappers, for syscall() (wrap_syscall.cc).
//
// A program calling syscall(SYS_x, ...) expects the kernel's behaviour, which
// for these differs from the libc function of the same name (the kernel's
// struct layout, its return value) or has no libc function. Each takes the
// program's (virtual) ids, returns like the kernel (a value, or -errno) and
// requires active().
#pragma once

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct open_how;
struct clone_args;
struct pollfd;

namespace vproc::lib::sys {

// rt_sigaction(2) with the kernel's struct sigaction (signals.cc).
long rt_sigaction(int sig, const void* act, void* oact, size_t sigsetsize);
// rt_sigprocmask(2) and rt_sigsuspend(2): never blocking the checkpoint
// signal; rt_sigsuspend goes on after a checkpoint (ckpt_mask_guard.cc).
long rt_sigprocmask(int how, const void* set, void* old, size_t sigsetsize);
long rt_sigsuspend(const void* mask, size_t sigsetsize);
// rt_sigtimedwait(2), going on after a checkpoint (signal_wait.cc).
long rt_sigtimedwait(const void* set, siginfo_t* info, const void* timeout, size_t sigsetsize);
// Sleeps and waits that go on after a checkpoint (ckpt_restart.cc).
long nanosleep(const struct timespec* req, struct timespec* rem);
long clock_nanosleep(clockid_t clock, int flags, const struct timespec* req, struct timespec* rem);
long poll(struct pollfd* fds, unsigned long n, int timeout_ms);
long ppoll(struct pollfd* fds, unsigned long n, struct timespec* timeout, const void* mask, size_t sigsetsize);
long select(int n, void* r, void* w, void* e, void* timeout);
long pselect6(int n, void* r, void* w, void* e, void* timeout, void* sigdata);
long epoll_wait(int epfd, void* events, int max, int timeout_ms);
long epoll_pwait(int epfd, void* events, int max, int timeout_ms, const void* mask, size_t sigsetsize);
long epoll_pwait2(int epfd, void* events, int max, const struct timespec* timeout, const void* mask,
                  size_t sigsetsize);
long pause();
long futex(uint32_t* uaddr, int op, uint32_t val, const struct timespec* timeout, uint32_t* uaddr2,
           uint32_t val3);
// signalfd4(2); signalfd(2) is signalfd4 with flags 0 (signalfd.cc).
long signalfd4(int fd, const void* mask, size_t masksize, int flags);
// timer_create(2) with a SIGEV_THREAD_ID target given as a vtid (wrap_timer.cc).
long timer_create(clockid_t clock, const struct sigevent* ev, int* kernel_timer_id);

// A pid argument naming a task (process or thread) -> the kernel's; 0 and
// negative values pass through; -ESRCH / -EREMOTE (wrap_sched.cc).
long task_to_real(pid_t pid);
// getpriority/setpriority's `who` for `which` (PRIO_PROCESS, PRIO_PGRP, PRIO_USER).
long priority_who_to_real(int which, id_t who);
// getpriority(2): returns 20 - nice, as the kernel does (glibc converts).
long getpriority(int which, id_t who);
// sched_getaffinity(2): returns the number of bytes written, as the kernel does.
long sched_getaffinity(pid_t pid, size_t size, void* mask);
long sched_setattr(pid_t pid, void* attr, unsigned flags);
long sched_getattr(pid_t pid, void* attr, unsigned size, unsigned flags);

// Process creation without CLONE_VM, with the child's identity set up as for
// fork() (sys_process.cc). Only for clones that are fork-like: other clones
// (threads, shared memory, a new stack) must go to glibc's syscall() untouched,
// whose child returns on its own stack without passing through our frames.
// The result is the pid the program sees.
bool clone_is_fork_like(unsigned long flags, bool new_stack);
long clone(unsigned long flags, void* stack, int* ptid, int* ctid, unsigned long tls);
long clone3(struct clone_args* args, size_t size);
// waitid(2) with its fifth argument (rusage), which glibc's waitid lacks.
long waitid(int idtype, id_t id, siginfo_t* info, int options, void* rusage);
// Signals to a thread, or with a program-made siginfo (whose si_pid the
// program filled with a vpid): targets and si_pid translated to real ids.
long tkill(pid_t tid, int sig);
long rt_sigqueueinfo(pid_t tgid, int sig, const siginfo_t* info);
long rt_tgsigqueueinfo(pid_t tgid, pid_t tid, int sig, const siginfo_t* info);
long pidfd_send_signal(int pidfd, int sig, const siginfo_t* info, unsigned flags);

// openat2(2) (wrap_proc_paths.cc).
long openat2(int dirfd, const char* path, const struct open_how* how, size_t size);

}  // namespace vproc::lib::sys
