// The threads of a restored process (PITFALLS 7-10, 15).
//
// The restorer brings back only the main thread. From inside the checkpoint
// handler it re-creates every other thread as a bare kernel task around the
// thread's own stack and TLS: clone() with the saved FS base, and glibc's
// thread descriptor's tid field as parent-set and child-cleared tid (so
// pthread_join works when it exits), jumping straight back into that thread's
// handler frame (ckpt_quiesce.cc park_thread). Each re-created thread then
// re-registers what the kernel keeps per task (robust list, rseq, name), and
// waits until the main thread has finished the restore: then all return from
// the handler, and rt_sigreturn reinstates each one's registers, FPU/AVX
// state, signal mask and alternate stack.
//
// glibc now caches the new kernel tid in each descriptor (pthread_kill,
// pthread_cancel and PI futexes need the real one). Mutexes locked before the
// checkpoint still name the old tid as owner: robust ones are rewritten here
// (their list says which), the others when their owner next touches them
// (mutex_adopt.h). Vtids stay what they were.
#pragma once

#include "ckpt_state.h"

namespace vproc::lib {

// Main thread, restore path: re-creates threads[1, thread_count) and waits
// until each has re-registered. A thread that cannot be re-created ends the
// process with a message (it could not go on correctly without it).
void recreate_threads(CkptState& c);

// Main thread, last thing before the handler returns: lets them all go on.
void release_restored_threads(CkptState& c);

// A re-created thread, in its handler: its per-task registrations, then it
// waits for release_restored_threads().
void thread_restored(CkptThread& t);

// Per-task registrations a new task lacks (both paths; also the main thread).
void reregister_thread(const CkptThread& t, long tid);

// The tid that thread `old_tid` (an earlier kernel tid of a thread of this
// process, from before a restore) has now; 0 if none is known.
int current_tid_of(const CkptState& c, int old_tid);

// A restored process's threads keep their vtids, which the daemon knew with
// the old tids: the process answers for them itself. The real tid of thread
// `vtid` of this process, or 0; the vtid of our thread `tid`, or 0.
int restored_thread_tid(uint32_t vtid);
uint32_t restored_thread_vtid(int tid);

}  // namespace vproc::lib
