#!/bin/bash
# A running program survives its daemon: helpers/fork_loop (fork, waitpid,
# check, repeat) runs under vproc-run; the daemon is killed with SIGKILL and
# the program keeps forking and reaping correctly; `vproc ps` fails meanwhile;
# a restarted daemon re-adopts the table, `vproc ps` lists the program again
# under its vpid, its new children are virtual, and `vproc kill` ends it
# cleanly (no check ever failed).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup
LOOP="$VPROC_HELPER_DIR/fork_loop"
[ -x "$LOOP" ] || vp_fail "missing helper $LOOP (build the integration_helpers target)"
D=$VP_DIR
STATE="$D/loop.state"

"$VPROC_RUN" --no-start "$LOOP" "$STATE" >"$D/loop.out" 2>"$D/loop.err" &
job=$!
vp_track_pid "$job"

iteration() { cut -d' ' -f1 "$STATE" 2>/dev/null; }
errors() { cut -d' ' -f3 "$STATE" 2>/dev/null; }
last_child_virtual() { cut -d' ' -f2 "$STATE" 2>/dev/null; }
# advanced_past N: the loop got beyond iteration N and is still alive.
advanced_past() { vp_alive "$job" || vp_fail "fork_loop died: $(tail -n 5 "$D/loop.err")"; [ "$(iteration)" -gt "$1" ] 2>/dev/null; }
# vpid_of_job: the loop's vpid according to `vproc ps --json` (by real pid).
vpid_of_job() {
  timeout 5 "$VPROC" ps --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
print(" ".join(str(e["vpid"]) for e in json.load(sys.stdin) if e["pid"] == int(sys.argv[1]) and not e["thread"]))' "$job" 2>/dev/null
}
listed() { [ "$(vpid_of_job)" = "$vpid" ]; }

vp_wait_until 20 "fork_loop ran 20 iterations" advanced_past 20
vpid=$(vpid_of_job)
vp_expect_vpid "$vpid" "vproc ps lists fork_loop"
vp_expect_eq "$(last_child_virtual)" 1 "fork_loop's children are virtual"

vp_stop_daemon KILL
vp_note "daemon killed (SIGKILL)"
n=$(iteration)
# 300 forks: more than one lease holds, so the no-daemon fallback runs too.
vp_wait_until 30 "fork_loop made 300 more iterations without a daemon" advanced_past $((n + 300))
vp_expect_eq "$(errors)" 0 "no fork/wait errors while the daemon is down"
timeout 10 "$VPROC" ps >/dev/null 2>"$D/ps.err" && vp_fail "vproc ps succeeded with the daemon down"
vp_note "ok: vproc ps fails while the daemon is down: $(head -n 1 "$D/ps.err")"

vp_start_daemon
vp_note "daemon restarted"
n=$(iteration)
vp_wait_until 20 "fork_loop made 50 more iterations after the restart" advanced_past $((n + 50))
vp_wait_until 20 "vproc ps lists fork_loop again as vpid $vpid" listed
vp_note "ok: the restarted daemon lists fork_loop under its old vpid $vpid"
n=$(iteration)
child_virtual_again() { advanced_past "$n" && [ "$(last_child_virtual)" = 1 ]; }
vp_wait_until 20 "fork_loop's new children are virtual again" child_virtual_again
vp_expect_eq "$(errors)" 0 "no fork/wait errors after the restart"

timeout 10 "$VPROC" kill -TERM "$vpid" || vp_fail "vproc kill -TERM $vpid failed after the restart"
wait "$job"
rc=$?
[ "$rc" = 0 ] || vp_fail "fork_loop exited with $rc: $(tail -n 5 "$D/loop.err")"
vp_note "ok: fork_loop ended cleanly after $(iteration) iterations: $(tail -n 1 "$D/loop.err")"
vp_pass
