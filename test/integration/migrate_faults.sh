#!/bin/bash
# Migration faults between namespace hosts: the target's link is down, the
# target's daemon is dead, the target's daemon is killed while the image is on
# its way. Each time the migration fails with a reason, and the process goes
# on at its source: its output stays byte-identical to a native run and its
# parent gets its exit status. Afterwards a migration to the recovered host works.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/cluster.sh"
cluster_test_start
PY=/usr/bin/python3
PROG=$HERE/programs/mig_ticker.py

"$PY" "$PROG" 200 >"$D/native.out"
cluster_up 2

host_spawn h1 "$VPROC_RUN" "$PY" "$PROG" 200 >"$D/run.out" 2>"$D/run.err" 251>&-
job=$HOST_JOB
vp_wait_until 10 "the workload runs on h1" grep -q "tick 2 " "$D/run.out"
V=$(host_run h1 "$VPROC" ps 2>/dev/null | awk '/mig_ticker/ {print $1; exit}')
[ -n "$V" ] || vp_fail "no vpid for the workload"

try_migrate() {  # what
  host_run h1 "$VPROC" migrate "$V" h2 >"$D/migrate.out" 2>&1 && vp_fail "$1: the migration succeeded"
  vp_note "$1: $(cat "$D/migrate.out")"
  vp_expect_contains "$D/migrate.out" "continues on h1" "$1: the process continues on h1"
  host_run h1 "$VPROC" ps 2>/dev/null | awk -v v="$V" '$1 == v {print $2}' >"$D/where"
  vp_expect_eq "$(cat "$D/where")" h1 "$1: vproc ps shows it on h1"
}

host_link_down h2
try_migrate "link down"
host_link_up h2

host_daemon_kill h2 KILL
try_migrate "target daemon dead"
host_daemon_restart h2

# The target's daemon dies once the image starts arriving.
( for _ in $(seq 200); do
    if ls "$(host_runtime_dir h2)"/spool/mig-* >/dev/null 2>&1; then host_daemon_kill h2 KILL; exit; fi
    sleep 0.005
  done ) &
killer=$!
try_migrate "target daemon killed mid-migration"
wait "$killer"
host_daemon_restart h2

host_run h1 "$VPROC" migrate "$V" h2 >"$D/migrate.out" 2>&1 || vp_fail "migration after recovery: $(cat "$D/migrate.out")"
vp_note "after recovery: $(cat "$D/migrate.out")"
wait "$job"
vp_expect_eq "$?" 7 "the parent gets exit status 7"
cmp -s "$D/native.out" "$D/run.out" || { diff "$D/native.out" "$D/run.out" | head; vp_fail "output differs from the native run"; }
vp_note "ok: output identical to the native run"
vp_pass
