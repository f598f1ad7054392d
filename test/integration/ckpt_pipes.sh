#!/bin/bash
# Pipes, epoll and eventfds across checkpoint and restore (programs/
# ckpt_pipes.c): a self-pipe holding 100000 unread bytes in a 256 KiB pipe, a
# dup of its write end, a worker thread blocked reading another pipe, a
# counting and a semaphore eventfd, and an epoll instance watching them.
#  - restore: `vproc checkpoint --stop`, `vproc inspect` shows what was saved,
#    SIGKILL, `vproc restore`; the output is byte-identical to an
#    uninterrupted native run (bytes, flags, sizes, counters, registrations).
#  - python3: a thread pool of its own (programs/ckpt_pipes.py): workers
#    blocked in os.read() on a job pipe, results unread in a pipe, an eventfd
#    and select.epoll; checkpointed, killed and restored, same output.
#  - namespace: the C program restored inside new pid and mount namespaces
#    with their own daemon (as in ckpt_namespace.sh).
#  - live: two checkpoints without --stop; the process goes on and finds
#    every buffered byte still there (saving them did not consume them).
#  - refused: with the read end of a pipe whose write end is not in the
#    process, and an epoll instance watching an fd that was closed since,
#    the checkpoint refuses, naming both, and the process runs on.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
PROG="$VPROC_HELPER_DIR/ckpt_pipes"
[ -x "$PROG" ] || vp_fail "$PROG is missing (build the integration_helpers target)"

vp_start_native_bg "$D/ref.out" "$PROG" /
vp_wait_native "$D/ref.out"
grep -qx EXIT-SUCCESS "$D/ref.out" || vp_fail "the native run did not succeed: $(cat "$D/ref.out" "$D/ref.out.err")"

# --- restore ------------------------------------------------------------------
vp_start_bg "$D/run.out" "$D/run.out.err" "$PROG" "$D/go"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_wait_lines "$D/run.out" 1 20 "ckpt_pipes" "$pid"
vp_checkpoint_stop "$vpid" "$D/pipes.vpimg" "$pid"
vp_kill_reap "$pid"

"$VPROC" inspect "$D/pipes.vpimg" >"$D/inspect.out" 2>&1 || vp_fail "vproc inspect: $(cat "$D/inspect.out")"
grep -Eq '^ +[0-9]+ pipe +pipe:\[[0-9]+\] \(flags 02004000, offset 0, 100000 bytes buffered, size 262144\)$' \
  "$D/inspect.out" || vp_fail "inspect shows no read end with 100000 bytes buffered: $(grep -A40 '^fds' "$D/inspect.out")"
[ "$(grep -Ec ' pipe +pipe:.*100000 bytes buffered, size 262144' "$D/inspect.out")" = 3 ] ||
  vp_fail "inspect does not show the self-pipe's read end, write end and dup: $(grep -A40 '^fds' "$D/inspect.out")"
vp_expect_contains "$D/inspect.out" " 100 pipe " "the dup at fd 100 is saved"
vp_expect_contains "$D/inspect.out" "anon_inode:[eventfd] (flags 02000002, offset 0, counter 5)" "the counting eventfd"
vp_expect_contains "$D/inspect.out" "anon_inode:[eventfd] (flags 04002, offset 0, counter 3, semaphore)" \
  "the semaphore eventfd"
[ "$(grep -c '      watches fd ' "$D/inspect.out")" = 4 ] ||
  vp_fail "inspect does not show 4 epoll registrations: $(grep -A40 '^fds' "$D/inspect.out")"
vp_expect_contains "$D/inspect.out" "events 0x80000019 (IN ERR HUP ET), data 0x1" "the edge-triggered registration"

vp_restore_bg "$D/pipes.vpimg" "$D/run.out" "$D/run.out.err"
pid=$VP_BG_PID
vp_expect_restored "$vpid" "$pid"
: >"$D/go"
vp_wait_exit "$pid" 30 "the restored program"
vp_expect_rc "$VP_RC" 0 "the restored program" "$D/run.out.err"
vp_compare_outputs native "$D/ref.out" 0 restored "$D/run.out" 0
vp_note "ok: restored output identical to the uninterrupted run ($(grep -c . "$D/run.out") lines)"

# --- python3 ------------------------------------------------------------------
PY=$HERE/programs/ckpt_pipes.py
vp_start_native_bg "$D/py-ref.out" /usr/bin/python3 "$PY" /
vp_wait_native "$D/py-ref.out"
vp_start_bg "$D/py.out" "$D/py.out.err" /usr/bin/python3 "$PY" "$D/py-go"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_wait_lines "$D/py.out" 1 20 "ckpt_pipes.py" "$pid"
vp_ckpt_kill_restore "$vpid" "$pid" "$D/py.vpimg" "$D/py.out" "$D/py.out.err"
pid=$VP_BG_PID
vp_expect_restored "$vpid" "$pid"
: >"$D/py-go"
vp_wait_exit "$pid" 30 "the restored python3"
vp_expect_rc "$VP_RC" 0 "the restored python3" "$D/py.out.err"
vp_compare_outputs native "$D/py-ref.out" 0 restored "$D/py.out" 0
vp_note "ok: python3's pipes, epoll and eventfd: $(grep results: "$D/py.out")"

# --- namespace ----------------------------------------------------------------
if ! command -v unshare >/dev/null; then
  vp_note "skipped the namespace part: unshare is not installed"
elif ! unshare --pid --mount --fork --mount-proc --kill-child /bin/sh -c 'mount -t tmpfs tmpfs /run' \
  2>"$D/unshare.err"; then
  vp_note "skipped the namespace part: $(cat "$D/unshare.err")"
else
  vp_start_bg "$D/ns.out" "$D/ns.out.err" "$PROG" "$D/ns-go"
  pid=$VP_BG_PID
  vpid=$(vp_vpid_of "$pid")
  vp_wait_lines "$D/ns.out" 1 20 "ckpt_pipes" "$pid"
  vp_checkpoint_stop "$vpid" "$D/ns.vpimg" "$pid"
  vp_kill_reap "$pid"
  vp_restore_in_namespaces "$D/ns.vpimg" "$vpid" "$D/ns.out" "$D/ns.out.err" "$D/ns-go"
  vp_expect_rc "$(cat "$D/ns.rc")" 0 "vproc restore inside the namespaces" "$D/ns.out.err"
  vp_compare_outputs native "$D/ref.out" 0 "restored in namespaces" "$D/ns.out" 0
  vp_note "ok: restored in new pid and mount namespaces, output identical"
fi

# --- live ---------------------------------------------------------------------
vp_start_bg "$D/live.out" "$D/live.out.err" "$PROG" "$D/live-go"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_wait_lines "$D/live.out" 1 20 "ckpt_pipes" "$pid"
for n in 1 2; do
  timeout -k 5 30 "$VPROC" checkpoint -o "$D/live$n.vpimg" "$vpid" >"$D/live$n.ckpt" 2>&1 ||
    vp_fail "live checkpoint $n: $(cat "$D/live$n.ckpt")"
done
"$VPROC" inspect "$D/live2.vpimg" >"$D/live2.inspect" 2>&1 || vp_fail "vproc inspect: $(cat "$D/live2.inspect")"
vp_expect_contains "$D/live2.inspect" "100000 bytes buffered, size 262144" "the second image still has every byte"
: >"$D/live-go"
vp_wait_exit "$pid" 30 "the program after two live checkpoints"
vp_expect_rc "$VP_RC" 0 "the program after two live checkpoints" "$D/live.out.err"
vp_compare_outputs native "$D/ref.out" 0 "after live checkpoints" "$D/live.out" 0

# --- refused ------------------------------------------------------------------
vp_start_bg "$D/half.out" "$D/half.out.err" "$PROG" --unsaveable "$D/half-go"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_wait_lines "$D/half.out" 1 20 "ckpt_pipes --unsaveable" "$pid"
rc=0
timeout -k 5 30 "$VPROC" checkpoint -o "$D/half.vpimg" "$vpid" >"$D/half.ckpt" 2>&1 || rc=$?
[ "$rc" != 0 ] || vp_fail "the checkpoint of a process with half a pipe and a stale epoll watch succeeded"
grep -Eq 'fd [0-9]+ pipe:\[[0-9]+\]: a pipe whose write end is not in this process \(not saved yet\)' "$D/half.ckpt" ||
  vp_fail "the refusal does not name the pipe: $(cat "$D/half.ckpt")"
grep -Eq 'fd [0-9]+ \(epoll\): watches fd [0-9]+, closed since it was added \(its file is still open through another fd\)' \
  "$D/half.ckpt" || vp_fail "the refusal does not name the stale epoll watch: $(cat "$D/half.ckpt")"
[ ! -e "$D/half.vpimg" ] || vp_fail "a refused checkpoint left an image"
vp_note "ok: refused: $(grep -o 'fd [0-9]* .*' "$D/half.ckpt" | tr '\n' ';')"
: >"$D/half-go"
vp_wait_exit "$pid" 30 "the program after the refused checkpoint"
vp_expect_rc "$VP_RC" 0 "the program after the refused checkpoint" "$D/half.out.err"
vp_compare_outputs native "$D/ref.out" 0 "after a refused checkpoint" "$D/half.out" 0
vp_pass
