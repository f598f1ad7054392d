#!/bin/bash
# Checkpoint/restore of a bash script from outside while it loops (counters,
# arithmetic, an associative array, a line appended to a file per step; no
# child processes): the restored bash finishes the loop and the file and its
# output are identical to an uninterrupted run's. bash reads the script through
# a descriptor it keeps open (255), so that file offset must survive too.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
SCRIPT=$HERE/programs/ckpt_counter.bash
STEPS=250000

vp_start_native_bg "$D/ref.out" /bin/bash "$SCRIPT" "$D/ref.counter" "$STEPS"

vp_start_bg "$D/run.out" "$D/run.out.err" /bin/bash "$SCRIPT" "$D/run.counter" "$STEPS"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_wait_lines "$D/run.counter" 50000 30 "bash loop" "$pid"
vp_ckpt_kill_restore "$vpid" "$pid" "$D/bash.vpimg" "$D/run.out" "$D/run.out.err"
at_ckpt=$(wc -l <"$D/run.counter")
[ "$at_ckpt" -lt "$STEPS" ] || vp_fail "the loop had finished before the checkpoint"
vp_note "ok: checkpointed bash at step $at_ckpt of $STEPS"
vp_expect_restored "$vpid" "$VP_BG_PID"
vp_wait_exit "$VP_BG_PID" 50 "the restored bash"
vp_expect_rc "$VP_RC" 0 "the restored bash" "$D/run.out.err"

vp_wait_native "$D/ref.out"
vp_compare_outputs reference "$D/ref.out" 0 restored "$D/run.out" 0
cmp "$D/ref.counter" "$D/run.counter" >"$D/cmp.out" 2>&1 ||
  vp_fail "the counter files differ: $(cat "$D/cmp.out")"
vp_note "ok: $(cat "$D/run.out"); all $STEPS lines identical to the uninterrupted run"
vp_pass
