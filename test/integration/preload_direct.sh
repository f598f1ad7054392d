#!/bin/bash
# LD_PRELOAD=libvproc.so with VPROC_SOCKET set works like vproc-run: the
# started program asks the daemon for its identity itself (Hello), gets a
# vpid, shows up in `vproc ps` and can be killed with `vproc kill`; bash and
# python3 behave as under vproc-run (identical output to native).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup
D=$VP_DIR

# preload_scenario NAME CMD...: like vp_scenario_test, with LD_PRELOAD.
preload_scenario() {
  local name=$1
  shift
  vp_run_native "$D/$name.native" "$@"
  vp_check_run "$name (native)" "$D/$name.native" "$VP_RC"
  SCENARIO_EXPECT_VIRTUAL=1 vp_run_preload "$D/$name.preload" "$@"
  vp_check_run "$name (LD_PRELOAD)" "$D/$name.preload" "$VP_RC"
  vp_compare_outputs native "$D/$name.native" 0 LD_PRELOAD "$D/$name.preload" 0
  vp_note "ok: $name: identical natively and with LD_PRELOAD"
}
LD_PRELOAD="$VPROC_LIBRARY" sh -c 'echo $$ > '"$D"'/p.pid; exec sleep 30' >"$D/p.out" 2>&1 &
job=$!
vp_track_pid "$job"
vp_wait_until 10 "the preloaded shell recorded its pid" vp_file_ready "$D/p.pid"
v=$(cat "$D/p.pid")
vp_expect_vpid "$v" "\$\$ of a shell started with LD_PRELOAD"
listed() {
  timeout 5 "$VPROC" ps --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
v, real = int(sys.argv[1]), int(sys.argv[2])
sys.exit(0 if any(e["vpid"] == v and e["pid"] == real and e["argv"] == ["sleep", "30"] for e in json.load(sys.stdin)) else 1)' "$v" "$job"
}
vp_wait_until 10 "vproc ps lists the preloaded process (vpid $v, pid $job, sleep 30)" listed
vp_note "ok: vproc ps lists the preloaded process after its exec"
timeout 10 "$VPROC" kill -TERM "$v" || vp_fail "vproc kill -TERM $v failed"
wait "$job"
vp_expect_eq "$?" 143 "vproc kill on the preloaded process: 143"
preload_scenario python_procs /usr/bin/python3 "$HERE/programs/python_procs.py"
preload_scenario bash_jobs bash "$HERE/programs/bash_jobs.bash"
vp_pass
