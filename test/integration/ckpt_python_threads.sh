#!/bin/bash
# Checkpoint/restore of a multi-threaded python3 program (programs/
# ckpt_threads.py: a feeder thread, 8 workers on a queue.Queue, the main
# thread writing every result in order), all from outside:
#  - two checkpoints while it runs on (`vproc checkpoint`): it keeps running,
#    and each image holds all 10 threads;
#  - generation 1: `vproc checkpoint --stop`, SIGKILL, `vproc restore`;
#  - generation 2: the restored process in turn checkpointed, killed and
#    restored, this time inside new pid and mount namespaces with a daemon of
#    their own (as ckpt_namespace.sh; here, without root, restored in place).
# The vpid never changes, and stdout and all progress lines are
# byte-identical to an uninterrupted run.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
PROG=$HERE/programs/ckpt_threads.py
ITEMS=8000
THREADS=10  # main, feeder, 8 workers

vp_start_native_bg "$D/ref.out" /usr/bin/python3 "$PROG" "$D/ref.progress" "$ITEMS"

# The run waits at each item the hold file names until the file names a later
# one: every checkpoint below finds it where this script expects it, however
# slowly the script itself runs.
echo 700 >"$D/hold"
vp_start_bg "$D/run.out" "$D/run.out.err" /usr/bin/python3 "$PROG" --hold "$D/hold" "$D/run.progress" "$ITEMS"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_expect_vpid "$vpid" "the python program's vpid"

# --- live checkpoints: the process runs on ---------------------------------
for n in 1 2; do
  vp_wait_lines "$D/run.progress" $((n * 700)) 20 "before live checkpoint $n" "$pid"
  rc=0
  timeout -k 5 30 "$VPROC" checkpoint -o "$D/live$n.vpimg" "$vpid" >"$D/live$n.out" 2>&1 || rc=$?
  [ "$rc" = 0 ] || vp_fail "vproc checkpoint (live $n) of the threaded program: exit status $rc: $(cat "$D/live$n.out")"
  vp_alive "$pid" || vp_fail "the program is gone after live checkpoint $n"
  vp_stopped "$pid" && vp_fail "the program is stopped after live checkpoint $n (no --stop was given)"
  timeout 30 "$VPROC" inspect "$D/live$n.vpimg" >"$D/live$n.inspect" 2>&1 || vp_fail "vproc inspect live$n.vpimg: $(cat "$D/live$n.inspect")"
  vp_expect_contains "$D/live$n.inspect" "threads: $THREADS" "live image $n holds all $THREADS threads"
  vp_note "ok: $(cat "$D/live$n.out")"
  echo $(((n + 1) * 700)) >"$D/hold"
done

# --- generation 1: checkpoint --stop, kill, restore here --------------------
vp_wait_lines "$D/run.progress" 2100 20 "before generation 1" "$pid"
vp_ckpt_kill_restore "$vpid" "$pid" "$D/gen1.vpimg" "$D/run.out" "$D/run.out.err"
at1=$(wc -l <"$D/run.progress")
[ "$at1" -lt "$ITEMS" ] || vp_fail "the program had finished before checkpoint 1"
pid=$VP_BG_PID
vp_expect_restored "$vpid" "$pid"
vp_note "ok: generation 1 restored (checkpoint at item $at1 of $ITEMS)"
echo $((at1 + 700)) >"$D/hold"

# --- generation 2: the restored process checkpointed and restored again ----
vp_wait_lines "$D/run.progress" $((at1 + 700)) 20 "generation 1 (the restored process)" "$pid"
vp_checkpoint_stop "$vpid" "$D/gen2.vpimg" "$pid"
vp_kill_reap "$pid"
at2=$(wc -l <"$D/run.progress")
[ "$at2" -lt "$ITEMS" ] || vp_fail "the program had finished before checkpoint 2"
echo "$ITEMS" >"$D/hold"  # generation 2 runs to its end

ns=0
if command -v unshare >/dev/null &&
  unshare --pid --mount --fork --mount-proc --kill-child /bin/sh -c 'mount -t tmpfs tmpfs /run' 2>"$D/unshare.err"; then
  ns=1
fi
if [ "$ns" = 1 ]; then
  vp_restore_in_namespaces "$D/gen2.vpimg" "$vpid" "$D/run.out" "$D/run.out.err"
  vp_expect_rc "$(cat "$D/ns.rc")" 0 "generation 2, restored inside new pid and mount namespaces" "$D/run.out.err"
  grep -q "\"vpid\": *$vpid\b" "$D/ns.ps.json" ||
    vp_fail "the namespaces' daemon never listed vpid $vpid: $(head -c 1000 "$D/ns.ps.json")"
  vp_note "ok: generation 2 (checkpoint at item $at2) ran to its end in other namespaces, as vpid $vpid"
else
  vp_note "no pid/mount namespaces here ($(head -c 200 "$D/unshare.err")): generation 2 restored in place"
  vp_restore_bg "$D/gen2.vpimg" "$D/run.out" "$D/run.out.err"
  pid=$VP_BG_PID
  vp_expect_restored "$vpid" "$pid"
  vp_wait_exit "$pid" 40 "generation 2"
  vp_expect_rc "$VP_RC" 0 "generation 2" "$D/run.out.err"
fi

vp_wait_native "$D/ref.out"
vp_compare_outputs reference "$D/ref.out" 0 restored "$D/run.out" 0
cmp -s "$D/ref.progress" "$D/run.progress" ||
  vp_fail "progress files differ: $(cmp "$D/ref.progress" "$D/run.progress" 2>&1)"
vp_note "ok: after 2 live checkpoints and 2 restores, stdout and all $ITEMS progress lines identical to the uninterrupted run"
vp_pass
