#!/bin/bash
# Checkpoint/restore of a C++ program that allocates and frees heavily
# (programs/alloc_churn.cc: std::map, std::vector, std::string, unique_ptr,
# new[]/delete[] of small blocks and of blocks malloc maps with mmap) before
# and after the restore: every round's checksum and the total must be those of
# an uninterrupted run.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
PROG=$VPROC_HELPER_DIR/alloc_churn
[ -x "$PROG" ] || vp_fail "missing $PROG (build the integration_helpers target)"
ROUNDS=1500

vp_start_native_bg "$D/ref.out" "$PROG" "$ROUNDS"

# The run waits before round 400 until the hold file says more (however slow
# this script is, the checkpoint finds it mid-run), then the restored copy runs on.
echo 400 >"$D/hold"
vp_start_bg "$D/run.out" "$D/run.out.err" "$PROG" "$ROUNDS" "$D/run.progress" "$D/hold"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_wait_lines "$D/run.progress" 400 30 "alloc_churn" "$pid"
vp_ckpt_kill_restore "$vpid" "$pid" "$D/churn.vpimg" "$D/run.out" "$D/run.out.err"
at_ckpt=$(wc -l <"$D/run.progress")
[ "$at_ckpt" -lt "$ROUNDS" ] || vp_fail "alloc_churn had finished before the checkpoint"
echo "$ROUNDS" >"$D/hold"
vp_note "ok: checkpointed alloc_churn after round $at_ckpt of $ROUNDS"
vp_expect_restored "$vpid" "$VP_BG_PID"
vp_wait_exit "$VP_BG_PID" 50 "the restored alloc_churn"
vp_expect_rc "$VP_RC" 0 "the restored alloc_churn" "$D/run.out.err"

vp_wait_native "$D/ref.out"
vp_compare_outputs reference "$D/ref.out" 0 restored "$D/run.out" 0
vp_expect_eq "$(wc -l <"$D/run.progress")" "$ROUNDS" "progress lines of the restored run"
vp_note "ok: $(tail -n 1 "$D/run.out"), identical to the uninterrupted run"
vp_pass
