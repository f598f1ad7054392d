#!/bin/bash
# Daemon and node failures around a migrated process, between namespace hosts
# (test/lib/cluster.sh). A python3 ticker (programs/mig_until.py) starts on
# h1, its home, and runs elsewhere; its shadow, which its parent waits for,
# stays on h1. What a user expects (docs/cluster.md, "When a node fails"):
#
# (a) h1's daemon restarts (TERM, later KILL) while the process runs on h2 and
#     h3: the process runs on, its output keeps arriving, later migrations
#     (h2 -> h3 -> h1 -> h2) work, and its exit status reaches the parent.
# (b) h1's daemon is dead while the process runs on h2: it runs on and its
#     output arrives; `vproc ps` elsewhere lists it and warns about h1;
#     `migrate` says at once that its home is unreachable; `vproc kill` on h2
#     still reaches it. It exits meanwhile: when h1's daemon is back the exit
#     status reaches the parent.
# (c) h1's link is down while the process runs on h2: the same, and once the
#     link is back the output written meanwhile arrives, migration works again,
#     and the exit status reaches the parent.
# Each output is byte-identical to a native run of the same length.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/cluster.sh"
cluster_test_start
PY=/usr/bin/python3
PROG=$HERE/programs/mig_until.py

cluster_up 3

# The parent's wait ends (bounded: a lost exit status must fail, not hang).
ended() { ! kill -0 "$1" 2>/dev/null; }

lines() { wc -l <"$1"; }
more_lines() { [ "$(lines "$1")" -gt "$2" ]; }  # FILE N: more than N lines now
# runs_on FILE WHAT: more output arrives in FILE within 10 s.
runs_on() {
  local n
  n=$(lines "$1")
  vp_wait_until 10 "$2" more_lines "$1" $((n + 3))
}
# migrate FROM VPID TO: asked on host FROM; must succeed.
migrate() {
  host_run "$1" "$VPROC" migrate "$2" "$3" >"$D/migrate.out" 2>&1 ||
    vp_fail "migration of $2 to $3 (asked on $1) failed: $(cat "$D/migrate.out")"
  vp_note "$(cat "$D/migrate.out")"
}
# start NAME: the ticker on h1, output to $D/NAME.out; sets V and job.
start() {
  host_spawn h1 "$VPROC_RUN" "$PY" "$PROG" >"$D/$1.out" 2>"$D/$1.err" 251>&-
  job=$HOST_JOB
  vp_wait_until 10 "$1 runs on h1" grep -q "tick 2 " "$D/$1.out"
  V=$(host_run h1 "$VPROC" ps 2>/dev/null | awk '/mig_until/ {print $1; exit}')
  [ -n "$V" ] || vp_fail "no vpid for $1 on h1"
}
# finish NAME: waits for the parent (exit 7 expected) and compares the output.
finish() {
  vp_wait_until 30 "the parent's wait ends" ended "$job"
  wait "$job"
  vp_expect_eq "$?" 7 "$1: the parent gets exit status 7"
  "$PY" "$PROG" "$(lines "$D/$1.out")" >"$D/$1.native"
  cmp -s "$D/$1.native" "$D/$1.out" || { diff "$D/$1.native" "$D/$1.out" | head; vp_fail "$1: output differs from a native run"; }
  [ -s "$D/$1.err" ] && vp_fail "$1: stderr not empty: $(head -c 1000 "$D/$1.err")"
  vp_note "ok: $1: $(lines "$D/$1.out") lines identical to a native run"
}
# refused HOST WHAT: `migrate $V h3` asked on HOST fails within 15 s naming h1.
refused() {
  local s e rc
  s=$(date +%s)
  host_run "$1" timeout 15 "$VPROC" migrate "$V" h3 >"$D/refused.out" 2>&1
  rc=$?
  e=$(date +%s)
  vp_note "$2: migrate asked on $1 (rc $rc, $((e - s)) s): $(cat "$D/refused.out")"
  [ "$rc" = 124 ] && vp_fail "$2: migrate hung"
  [ "$rc" = 0 ] && vp_fail "$2: migrate succeeded without its home"
  vp_expect_contains "$D/refused.out" "its home node cannot be reached" "$2: the error says its home is unreachable"
  vp_expect_contains "$D/refused.out" "node h1 " "$2: the error names the home node h1"
}
# ps_warns HOST WHAT: vproc ps on HOST lists $V on h2 and warns about h1.
ps_warns() {
  host_run "$1" "$VPROC" ps >"$D/ps.out" 2>"$D/ps.err"
  vp_note "$2: vproc ps on $1: $(cat "$D/ps.err")"
  vp_expect_contains "$D/ps.err" "h1" "$2: vproc ps on $1 warns about h1"
  vp_expect_eq "$(awk -v v="$V" '$1 == v {print $2}' "$D/ps.out")" h2 "$2: vproc ps on $1 lists $V on h2"
}

# --- (a) the home daemon restarts under a migrated process ---
start a
migrate h1 "$V" h2
host_daemon_restart h1
runs_on "$D/a.out" "(a) output arrives after h1's daemon restarted"
migrate h2 "$V" h3
runs_on "$D/a.out" "(a) runs on h3"
host_daemon_kill h1 KILL
host_daemon_restart h1
runs_on "$D/a.out" "(a) output arrives after h1's daemon was killed and restarted"
vp_expect_eq "$(host_run h1 "$VPROC" ps 2>/dev/null | awk -v v="$V" '$1 == v {print $2}')" h3 \
  "(a) the restarted h1 knows $V runs on h3"
migrate h3 "$V" h1
runs_on "$D/a.out" "(a) runs at home again"
migrate h1 "$V" h2
runs_on "$D/a.out" "(a) runs on h2"
host_run h3 "$VPROC" kill -USR1 "$V" || vp_fail "(a) vproc kill -USR1 $V from h3 failed"
finish a

# --- (b) the home daemon is dead ---
start b
migrate h1 "$V" h2
host_daemon_kill h1 KILL
runs_on "$D/b.out" "(b) output arrives while h1's daemon is dead"
ps_warns h3 "(b)"
refused h2 "(b) from the node it runs on"
refused h3 "(b) from a third node"
runs_on "$D/b.out" "(b) still runs on h2"
host_run h2 "$VPROC" kill -USR1 "$V" || vp_fail "(b) vproc kill -USR1 $V on h2 failed without its home"
gone_from_h2() { [ -z "$(host_run h2 "$VPROC" ps --node h2 2>/dev/null | awk -v v="$V" '$1 == v')" ]; }
vp_wait_until 10 "(b) the process has exited on h2" gone_from_h2
kill -0 "$job" 2>/dev/null || vp_fail "(b) the parent saw an exit before the home daemon was back"
host_daemon_restart h1
finish b

# --- (c) the home node's link is down ---
start c
migrate h1 "$V" h2
host_link_down h1
sleep 1
ps_warns h2 "(c)"
refused h2 "(c)"
host_link_up h1
runs_on "$D/c.out" "(c) output arrives once the link is back"
migrate h1 "$V" h3
runs_on "$D/c.out" "(c) runs on h3"
host_run h2 "$VPROC" kill -USR1 "$V" || vp_fail "(c) vproc kill -USR1 $V from h2 failed"
finish c
vp_pass
