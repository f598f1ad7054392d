#!/bin/bash
# `vproc ps` and `vproc kill` against running programs:
#  - the table shows a program's vpid, its real pid, its PPID (the parent's
#    vpid) and its command line; `vproc ps --json` parses and says the same;
#  - `vproc kill -TERM VPID` kills a process started by vproc-run (the shell
#    sees 143), a child of a vproc shell (that shell's `wait` sees 143), and
#    `vproc kill -- -VPID` a whole process group.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup
D=$VP_DIR

# Job A: a shell that records its $$ and its child's $!, then waits for it.
"$VPROC_RUN" --no-start sh -c 'echo $$ > '"$D"'/a.pid; sleep 30 & echo $! > '"$D"'/a.child; wait $!; echo "child status $?" > '"$D"'/a.status; exit 3' >"$D/a.out" 2>&1 &
job_a=$!
vp_track_pid "$job_a"
# Job B: a program started directly by vproc-run.
"$VPROC_RUN" --no-start sleep 31 >"$D/b.out" 2>&1 &
job_b=$!
vp_track_pid "$job_b"
# Job C: a new session whose group has two members.
setsid "$VPROC_RUN" --no-start sh -c 'echo $$ > '"$D"'/c.pid; sleep 32 & sleep 33 & wait' >"$D/c.out" 2>&1 &
job_c=$!
vp_track_pid "$job_c"

vp_wait_until 10 "job A recorded its pids" vp_file_ready "$D/a.child"
vp_wait_until 10 "job C recorded its pid" vp_file_ready "$D/c.pid"
a=$(cat "$D/a.pid")
a_child=$(cat "$D/a.child")
c=$(cat "$D/c.pid")
vp_expect_vpid "$a" "job A's \$\$"
vp_expect_vpid "$a_child" "job A's \$!"
vp_expect_vpid "$c" "job C's \$\$"

# --- vproc ps (table): VPID NODE PID PPID STATE UID START CMD ---
ps_has_sleep() {
  timeout 10 "$VPROC" ps >"$D/ps.txt" 2>"$D/ps.err" || return 1
  grep -q ' sleep 33$' "$D/ps.txt" && grep -q ' sleep 31$' "$D/ps.txt"
}
vp_wait_until 10 "vproc ps lists every sleep" ps_has_sleep
head -n 1 "$D/ps.txt" | grep -q 'VPID.*PID.*PPID.*CMD' || vp_fail "vproc ps: unexpected header: $(head -n 1 "$D/ps.txt")"
row=$(awk -v v="$a_child" '$1 == v' "$D/ps.txt")
[ -n "$row" ] || vp_fail "vproc ps has no row for job A's child $a_child: $(cat "$D/ps.txt")"
set -- $row
vp_expect_eq "$4" "$a" "vproc ps: PPID of job A's child is job A's vpid"
vp_expect_eq "${*:8}" "sleep 30" "vproc ps: CMD of job A's child"
row=$(awk -v v="$a" '$1 == v' "$D/ps.txt")
set -- $row
vp_expect_eq "$3" "$job_a" "vproc ps: PID of job A is the real pid the shell started"

# --- vproc ps --json ---
timeout 10 "$VPROC" ps --json >"$D/ps.json" 2>"$D/ps.json.err" || vp_fail "vproc ps --json failed: $(cat "$D/ps.json.err")"
/usr/bin/python3 - "$D/ps.json" "$a" "$a_child" "$job_a" "$job_b" >"$D/json.check" 2>&1 <<'PY' || vp_fail "vproc ps --json: $(cat "$D/json.check")"
import json, sys
path, a, a_child, job_a, job_b = sys.argv[1], *map(int, sys.argv[2:])
entries = json.load(open(path))
assert isinstance(entries, list), "not a JSON array"
by_vpid = {e["vpid"]: e for e in entries}
child = by_vpid.get(a_child)
assert child, "no entry for job A's child %d" % a_child
assert child["ppid"] == a, "job A's child: ppid %r, expected %d" % (child["ppid"], a)
assert child["argv"] == ["sleep", "30"], "job A's child: argv %r" % (child["argv"],)
assert child["thread"] is False, "job A's child listed as a thread"
sh = by_vpid.get(a)
assert sh and sh["pid"] == job_a, "job A: real pid %r, expected %d" % (sh and sh["pid"], job_a)
assert sh["argv"][:2] == ["sh", "-c"], "job A: argv %r" % (sh["argv"],)
b = [e for e in entries if e["pid"] == job_b]
assert len(b) == 1 and b[0]["argv"] == ["sleep", "31"], "job B (real pid %d) not listed once as sleep 31" % job_b
assert b[0]["vpid"] >= 4194304, "job B's vpid %r is not virtual" % b[0]["vpid"]
for e in entries:
    for k in ("vpid", "node", "node_index", "pid", "ppid", "state", "uid", "start_time_ms", "argv", "thread", "tgid"):
        assert k in e, "entry %r lacks %r" % (e.get("vpid"), k)
print(b[0]["vpid"])
PY
b=$(cat "$D/json.check")
vp_note "ok: vproc ps --json parses; job A, its child and job B are listed correctly (job B is vpid $b)"

# --- vproc kill ---
timeout 10 "$VPROC" kill -TERM "$b" || vp_fail "vproc kill -TERM $b (job B) failed"
wait "$job_b"
vp_expect_eq "$?" 143 "vproc kill -TERM on job B: the shell sees exit status 143"

timeout 10 "$VPROC" kill -TERM "$a_child" || vp_fail "vproc kill -TERM $a_child (job A's child) failed"
wait "$job_a"
vp_expect_eq "$?" 3 "job A exited 3 after its child was killed"
vp_expect_eq "$(cat "$D/a.status")" "child status 143" "job A's wait \$! saw 143"

timeout 10 "$VPROC" kill -0 "$c" || vp_fail "vproc kill -0 $c (job C) failed"
timeout 10 "$VPROC" kill -TERM -- "-$c" || vp_fail "vproc kill -TERM -- -$c (job C's group) failed"
wait "$job_c"
vp_expect_eq "$?" 143 "vproc kill -- -pgid: job C's shell died of SIGTERM"
gone() { ! timeout 10 "$VPROC" ps | grep -q ' sleep 3[23]$'; }
vp_wait_until 10 "job C's sleeps are gone from vproc ps" gone
vp_note "ok: the group signal reached both sleeps of job C"

timeout 10 "$VPROC" kill -0 "$b" 2>"$D/kill.err" && vp_fail "vproc kill -0 on the dead job B succeeded"
vp_expect_contains "$D/kill.err" "No such process" "vproc kill on a dead vpid says No such process"
vp_pass
