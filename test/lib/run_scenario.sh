#!/bin/bash
# run_scenario.sh MODE PROGRAM [ARGS...]
#
# Runs a scenario program (test/scenarios/*.c) in one mode. Its stdout must end
# with the line EXIT-SUCCESS and its exit status must be 0; in every mode but
# `native`, stdout and exit status must also be identical to a native run
# (the scenarios print relations, never pid numbers).
#
# Modes (one function mode_NAME each; a new mode is a new function):
#   native   run the program directly
#   vproc    under vproc-run, with a private daemon
#   preload  with LD_PRELOAD=libvproc.so and VPROC_SOCKET, no vproc-run
# In the vproc modes SCENARIO_EXPECT_VIRTUAL=1 makes the program fail (exit 99)
# on any pid below 2^22, i.e. a real pid that leaked through.
HERE=$(cd "$(dirname "$0")" && pwd)
VP_NAME="scenario/${1:-?}/$(basename "${2:-?}")"
. "$HERE/harness.sh"

usage() {
  echo "usage: run_scenario.sh MODE PROGRAM [ARGS...]; MODE is one of: $(declare -F | sed -n 's/^declare -f mode_//p' | tr '\n' ' ')" >&2
  exit 2
}

# The reference run every other mode is compared with.
native_reference() {
  vp_run_native "$VP_DIR/out.native" "$@"
  vp_check_run native "$VP_DIR/out.native" "$VP_RC"
  NATIVE_RC=$VP_RC
}

mode_native() {
  vp_setup_dir
  native_reference "$@"
}

mode_vproc() {
  vp_setup
  native_reference "$@"
  SCENARIO_EXPECT_VIRTUAL=1 vp_run_vproc "$VP_DIR/out.vproc" "$@"
  vp_check_run vproc "$VP_DIR/out.vproc" "$VP_RC"
  vp_compare_outputs native "$VP_DIR/out.native" "$NATIVE_RC" vproc "$VP_DIR/out.vproc" "$VP_RC"
}

mode_preload() {
  vp_setup
  native_reference "$@"
  SCENARIO_EXPECT_VIRTUAL=1 vp_run_preload "$VP_DIR/out.preload" "$@"
  vp_check_run preload "$VP_DIR/out.preload" "$VP_RC"
  vp_compare_outputs native "$VP_DIR/out.native" "$NATIVE_RC" preload "$VP_DIR/out.preload" "$VP_RC"
}

[ $# -ge 2 ] || usage
mode=$1
shift
declare -F "mode_$mode" >/dev/null || { echo "run_scenario.sh: unknown mode '$mode'" >&2; usage; }
[ -x "$1" ] || vp_fail "scenario program '$1' is missing or not executable"
"mode_$mode" "$@"
vp_note "$(grep -c '^ok: ' "$VP_DIR/out.native") checks, same output in mode $mode"
vp_pass
