/* vproc public C API.
 *
 * Link with -lvproc (pkg-config: vproc; CMake: find_package(vproc) -> vproc::vproc),
 * or run any dynamically linked program with LD_PRELOAD=libvproc.so. The functions
 * work in both cases; when the program runs without vproc (no daemon reachable),
 * vproc_is_active() returns 0 and the translations return their argument.
 *
 * Error convention: functions returning pid_t or int return -1 and set errno.
 * All functions are async-signal-safe.
 */
#ifndef VPROC_VPROC_H
#define VPROC_VPROC_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VPROC_API_VERSION 2

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

/* --- Checkpointing (API version 2) ---------------------------------------
 *
 * A checkpoint is taken by libvproc's handler of the checkpoint signal
 * (VPROC_CKPT_SIGNAL, 62 by default), whichever way it was asked for (this
 * API, `vproc checkpoint`). The callbacks below run inside that handler, with
 * every signal blocked: like any signal handler they may only call
 * async-signal-safe functions, must not take locks the interrupted code may
 * hold, and must return.
 */

/* Checkpoints the calling process now, into the image file `path` (relative
 * paths are taken against the working directory). Returns 0 in the process
 * that took the checkpoint, once the image is complete; 1 when execution
 * continues in a process restored from that image (`vproc restore`); -1 on
 * failure, with errno set (ENOSYS: checkpointing is not available in this
 * process; EBUSY: inside vproc_checkpoint_forbid(), or another thread is in
 * vproc_checkpoint(); EDEADLK: called from a callback) and a message for
 * vproc_checkpoint_error(). */
int vproc_checkpoint(const char* path) VPROC_NOTHROW;

/* The message of the last failed vproc_checkpoint() of this process ("" if
 * none failed). The buffer is overwritten by the next failure. */
const char* vproc_checkpoint_error(void) VPROC_NOTHROW;

/* Registers fn(arg) to run just before each checkpoint of this process
 * (in the process being checkpointed), or just after each restore (in the
 * restored process, before the interrupted code resumes). Up to 16 of each,
 * run in registration order; registrations cannot be removed. Returns 0, or
 * -1 with errno EINVAL (fn is NULL) or ENOMEM (16 already registered). */
int vproc_at_checkpoint(void (*fn)(void*), void* arg) VPROC_NOTHROW;
int vproc_at_restore(void (*fn)(void*), void* arg) VPROC_NOTHROW;

/* A section in which this process must not be checkpointed: a request that
 * arrives meanwhile (on any thread) waits, and is served when the outermost
 * section ends. Sections nest; each forbid() needs one allow(). */
void vproc_checkpoint_forbid(void) VPROC_NOTHROW;
void vproc_checkpoint_allow(void) VPROC_NOTHROW;

#ifdef __cplusplus
}
#endif

#endif /* VPROC_VPROC_H */
