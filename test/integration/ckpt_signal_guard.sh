#!/bin/bash
# The checkpoint signal stays the program's own under vproc (libvproc's
# ckpt_signal_guard.h): a program that installs a handler for it, blocks
# every signal, waits for it, ignores it and dies of it prints the same as
# natively, while the kernel never really blocks it (SigBlk). With the default
# signal (62), another one (VPROC_CKPT_SIGNAL=40), and with checkpointing off.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup
D=$VP_DIR
PROG="$VPROC_HELPER_DIR/ckpt_signal_guard"
[ -x "$PROG" ] || vp_fail "$PROG is missing (build the integration_helpers target)"

# guard_case NAME active|inactive: PROG natively, under vproc-run and with
# LD_PRELOAD, same output; the guard as expected under vproc.
guard_case() {
  local name=$1 expect=$2
  vp_scenario_test "$name" "$PROG"
  vp_expect_contains "$D/$name.vproc.err" "guard $expect" "$name: guard $expect under vproc-run"
  SCENARIO_EXPECT_VIRTUAL=1 vp_run_preload "$D/$name.preload" "$PROG"
  vp_check_run "$name (LD_PRELOAD)" "$D/$name.preload" "$VP_RC"
  vp_compare_outputs native "$D/$name.native" 0 LD_PRELOAD "$D/$name.preload" 0
  vp_expect_contains "$D/$name.preload.err" "guard $expect" "$name: guard $expect with LD_PRELOAD"
}

guard_case default_signal active
export VPROC_CKPT_SIGNAL=40
guard_case signal_40 active
export VPROC_CKPT_SIGNAL=0
guard_case checkpointing_off inactive
vp_pass
