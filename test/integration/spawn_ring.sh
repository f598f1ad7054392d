#!/bin/bash
# The spawn ring (common/spawn_ring.h): forks and waits are written into
# shared memory, not sent, yet every other client sees them at once:
#  - after thousands of fork/wait cycles (the ring wraps), the live children a
#    program then forks are listed by `vproc ps --json` (right parent) and
#    killed by `vproc kill` the moment the program has printed them;
#  - with the daemon stopped (SIGSTOP) while a program forks, the ring fills;
#    the program waits for an answer (a request makes the daemon read every
#    ring), and goes on sending its messages if none comes in 2 s. Either way,
#    once the daemon runs again, the table is right and nothing was applied out
#    of order (the daemon logs no ignored message).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup
FAN="$VPROC_HELPER_DIR/fork_fan"
[ -x "$FAN" ] || vp_fail "missing helper $FAN (build the integration_helpers target)"
D=$VP_DIR

# run_fan NAME CYCLES LIVE [GO_FILE]: starts fork_fan under vproc-run in the
# background (its pid in FAN_JOB).
run_fan() {
  "$VPROC_RUN" --no-start "$FAN" "$2" "$3" ${4:+"$4"} >"$D/$1.out" 2>"$D/$1.err" &
  FAN_JOB=$!
  vp_track_pid "$FAN_JOB"
}
# check_fan NAME LIVE: the live children are in the table under their parent,
# `vproc kill` ends each, and the program saw every one end by SIGTERM.
check_fan() {
  local name=$1 live=$2 out="$D/$1.out"
  vp_wait_until 60 "$name: fork_fan printed its live children" grep -q '^cycles ' "$out"
  grep -qx "cycles OK [0-9]*" "$out" || vp_fail "$name: a fork/wait cycle failed: $(cat "$D/$name.err")"
  local parent kids
  parent=$(sed -n 's/^parent //p' "$out")
  kids=$(sed -n 's/^child //p' "$out")
  vp_expect_vpid "$parent" "$name: the parent's pid"
  [ "$(wc -w <<<"$kids")" -eq "$live" ] || vp_fail "$name: expected $live children: $(cat "$out")"
  # No waiting: the table must know them now.
  timeout 10 "$VPROC" ps --json >"$D/$name.json" 2>"$D/$name.json.err" || vp_fail "$name: vproc ps --json: $(cat "$D/$name.json.err")"
  /usr/bin/python3 - "$D/$name.json" "$parent" $kids >"$D/$name.check" 2>&1 <<'PY' || vp_fail "$name: $(cat "$D/$name.check")"
import json, sys
entries = {e["vpid"]: e for e in json.load(open(sys.argv[1]))}
parent = int(sys.argv[2])
for k in map(int, sys.argv[3:]):
    e = entries.get(k)
    assert e, "vproc ps does not list child %d" % k
    assert e["ppid"] == parent, "child %d: ppid %s, expected %d" % (k, e["ppid"], parent)
    assert e["state"] != "zombie", "child %d is a zombie already" % k
PY
  local k
  for k in $kids; do
    timeout 10 "$VPROC" kill -TERM "$k" 2>"$D/$name.kill.err" || vp_fail "$name: vproc kill -TERM $k: $(cat "$D/$name.kill.err")"
  done
  wait "$FAN_JOB"
  local rc=$?
  [ "$rc" -eq 0 ] || vp_fail "$name: fork_fan exited $rc: $(cat "$D/$name.err")"
  for k in $kids; do
    grep -qx "ended $k signal 15" "$out" || vp_fail "$name: child $k did not end by SIGTERM: $(grep '^ended' "$out")"
  done
}
no_ignored_messages() {
  if grep -E 'ignored from pid|dropping the spawn ring' "$D/vprocd.log" >"$D/ignored.txt"; then
    vp_fail "$1: the daemon ignored messages: $(head -n 5 "$D/ignored.txt")"
  fi
}

# 1. Thousands of cycles (about 8 records per 64 bytes: the ring wraps), then 20 live children.
run_fan wrap 6000 20
check_fan wrap 20
no_ignored_messages "after 6000 cycles"

# 2. The daemon stops while a program forks; it runs again within the 2 s the
#    program waits for an answer to a full ring.
run_fan paused 2500 5 "$D/go.paused"
sleep 0.5  # vproc-run has registered the program, which waits for the go file
kill -STOP "$VP_DAEMON_PID"
touch "$D/go.paused"
sleep 1
kill -CONT "$VP_DAEMON_PID"
check_fan paused 5
no_ignored_messages "after a pause of 1 s"

# 3. The same with a pause longer than that: the program sends from then on.
run_fan stalled 2500 5 "$D/go.stalled"
sleep 0.5
kill -STOP "$VP_DAEMON_PID"
touch "$D/go.stalled"
sleep 4
kill -CONT "$VP_DAEMON_PID"
check_fan stalled 5
no_ignored_messages "after a pause of 4 s"

vp_pass "fork records reach the table through the ring, in order, also across a stopped daemon"
