#!/bin/bash
# Checkpoint/restore of a running python3 loop from outside: `vproc checkpoint
# --stop` in the middle of the run, SIGKILL, `vproc restore`. The restored
# process keeps its vpid (now with the real pid of `vproc restore`), appends
# the rest of its progress lines to the same file and prints the same checksum
# as an uninterrupted run.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
PROG=$HERE/programs/ckpt_progress.py
STEPS=1500

vp_start_native_bg "$D/ref.out" /usr/bin/python3 "$PROG" "$D/ref.progress" "$STEPS"

vp_start_bg "$D/run.out" "$D/run.out.err" /usr/bin/python3 "$PROG" "$D/run.progress" "$STEPS"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_expect_vpid "$vpid" "the python loop's vpid"
vp_wait_lines "$D/run.progress" 300 20 "python loop" "$pid"
vp_ckpt_kill_restore "$vpid" "$pid" "$D/python.vpimg" "$D/run.out" "$D/run.out.err"
at_ckpt=$(wc -l <"$D/run.progress")
[ "$at_ckpt" -lt "$STEPS" ] || vp_fail "the loop had finished ($at_ckpt lines) before the checkpoint"
vp_note "ok: checkpointed at step $at_ckpt of $STEPS"
vp_expect_restored "$vpid" "$VP_BG_PID"
vp_wait_exit "$VP_BG_PID" 50 "the restored python loop"
vp_expect_rc "$VP_RC" 0 "the restored python loop" "$D/run.out.err"

vp_wait_native "$D/ref.out"
vp_compare_outputs reference "$D/ref.out" 0 restored "$D/run.out" 0
cmp -s "$D/ref.progress" "$D/run.progress" ||
  vp_fail "progress files differ: $(cmp "$D/ref.progress" "$D/run.progress" 2>&1)"
vp_note "ok: stdout and all $STEPS progress lines identical to the uninterrupted run"
vp_pass
