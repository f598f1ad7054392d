/* vproc public C API.
 *
 * Link with -lvproc (pkg-config: vproc; CMake: find_package(vproc) -> vproc::vproc),
 * or run any dynamically linked program with LD_PRELOAD=libvproc.so. The functions
 * work in both cases; when the program runs without vproc (no daemon reachable),
 * vproc_is_active() returns 0 and the translations return their argument.
 *
 * Error convention: functions returning pid_t return -1 and set errno.
 * All functions are async-signal-safe.
 */
#ifndef VPROC_VPROC_H
#define VPROC_VPROC_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VPROC_API_VERSION 1

/* None of these functions throws (C++ callers may rely on it). */
#ifdef __cplusplus
#define VPROC_NOTHROW noexcept
#else
#define VPROC_NOTHROW
#endif

/* 1 if this process runs under vproc with virtual PIDs, 0 otherwise. */
int vproc_is_active(void) VPROC_NOTHROW;

/* This process's virtual PID (the same value getpid() returns under vproc). */
pid_t vproc_self(void) VPROC_NOTHROW;

/* The real (kernel) PID that a virtual PID currently maps to on this node.
 * Real PIDs (< 2^22) are returned unchanged. -1/ESRCH: unknown vpid;
 * -1/EREMOTE: the process runs on another node. */
pid_t vproc_to_real(pid_t vpid) VPROC_NOTHROW;

/* The virtual PID of the process that uses real PID `real` on this node; the
 * argument itself when that process is not under vproc. */
pid_t vproc_to_virtual(pid_t real) VPROC_NOTHROW;

/* The home node encoded in a vpid (0-based), or -1/EINVAL if `vpid` is not a vpid. */
int vproc_home_node(pid_t vpid) VPROC_NOTHROW;

/* Index of the node this process runs on, or -1 when inactive. */
int vproc_node_index(void) VPROC_NOTHROW;

#ifdef __cplusplus
}
#endif

#endif /* VPROC_VPROC_H */
