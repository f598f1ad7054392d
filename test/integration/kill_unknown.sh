#!/bin/bash
# Signalling pids that do not exist: `vproc kill 4194999` fails and says "No
# such process"; kill(4194999, 0) from a C program under vproc-run gives ESRCH
# (as it does natively); vproc kill rejects real pids, junk and unknown signals
# with clear messages.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup
PROBE="$VPROC_HELPER_DIR/kill_probe"
[ -x "$PROBE" ] || vp_fail "missing helper $PROBE (build the integration_helpers target)"
D=$VP_DIR

# expect_kill_error EXPECTED_STATUS MESSAGE ARGS...
expect_kill_error() {
  local want=$1 msg=$2
  shift 2
  local rc=0
  timeout 10 "$VPROC" kill "$@" >"$D/kill.out" 2>"$D/kill.err" || rc=$?
  vp_expect_eq "$rc" "$want" "vproc kill $*: exit status"
  vp_expect_contains "$D/kill.err" "$msg" "vproc kill $*: message"
}
expect_kill_error 1 "No such process" 4194999
expect_kill_error 1 "No such process" -TERM 4194999
expect_kill_error 1 "No such process" -0 4194999
expect_kill_error 1 "No such process" -TERM -- -4194999
expect_kill_error 1 "not a virtual PID" 1234
expect_kill_error 1 "failed to parse" abc
expect_kill_error 2 "unknown signal" -NOSUCHSIG 4194999
expect_kill_error 2 "no process given" -TERM

vp_run_native "$D/probe.native" "$PROBE" 4194999 0
vp_expect_eq "$(cat "$D/probe.native")/$VP_RC" "kill: ESRCH/1" "natively kill(4194999, 0) is ESRCH"
vp_run_vproc "$D/probe.vproc" "$PROBE" 4194999 0
vp_expect_eq "$(cat "$D/probe.vproc")/$VP_RC" "kill: ESRCH/1" "under vproc-run kill(4194999, 0) is ESRCH"
vp_run_vproc "$D/probe.vproc" "$PROBE" 4194999 15
vp_expect_eq "$(cat "$D/probe.vproc")/$VP_RC" "kill: ESRCH/1" "under vproc-run kill(4194999, SIGTERM) is ESRCH"
vp_run_vproc "$D/probe.vproc" "$PROBE" -4194999 0
vp_expect_eq "$(cat "$D/probe.vproc")/$VP_RC" "kill: ESRCH/1" "under vproc-run kill(-4194999, 0) is ESRCH"
# A well-formed vpid of another node (node 5) that no one registered.
vp_run_vproc "$D/probe.vproc" "$PROBE" $(((6 << 22) | 77)) 0
vp_expect_eq "$(cat "$D/probe.vproc")/$VP_RC" "kill: ESRCH/1" "under vproc-run kill(unknown vpid of another node, 0) is ESRCH"
vp_pass
