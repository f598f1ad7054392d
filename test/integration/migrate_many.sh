#!/bin/bash
# One process migrated 50 times in a row between three namespace hosts
# (test/lib/cluster.sh) while it runs: h1 -> h2 -> h3 -> h1 -> h2 ... (its home
# h1 is left, passed through and come back to). Afterwards it is stopped by a
# SIGUSR1 sent from another node: its output is byte-identical to a native run
# of the same length, its parent gets its exit status 7, and no host keeps
# anything of it: no shadow, keeper, guest or restore process, no spool file,
# no record in `vproc ps`. The time of each migration is printed (not asserted:
# bench/ measures).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/cluster.sh"
cluster_test_start
PY=/usr/bin/python3
PROG=$HERE/programs/mig_until.py
MIGRATIONS=${MIGRATE_MANY_COUNT:-50}

cluster_up 3

# The parent's wait ends (bounded: a lost exit status must fail, not hang).
ended() { ! kill -0 "$1" 2>/dev/null; }

host_spawn h1 "$VPROC_RUN" "$PY" "$PROG" >"$D/run.out" 2>"$D/run.err" 251>&-
job=$HOST_JOB
vp_wait_until 10 "the workload runs on h1" grep -q "tick 2 " "$D/run.out"
V=$(host_run h1 "$VPROC" ps 2>/dev/null | awk '/mig_until/ {print $1; exit}')
[ -n "$V" ] || vp_fail "no vpid for the workload on h1"

more_lines() { [ "$(wc -l <"$1")" -gt "$2" ]; }  # FILE N: more than N lines now
now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }

hosts=(h1 h2 h3)
at=h1
times=()
t0=$(now_ms)
for i in $(seq 1 "$MIGRATIONS"); do
  to=${hosts[$((i % 3))]}
  s=$(now_ms)
  # From the node it leaves, the one it goes to, or the third: any node may ask.
  asker=${hosts[$((i * 7 % 3))]}
  host_run "$asker" "$VPROC" migrate "$V" "$to" >"$D/migrate.out" 2>&1 ||
    vp_fail "migration $i ($at -> $to, asked on $asker) failed: $(cat "$D/migrate.out")"
  e=$(now_ms)
  grep -q "^vpid $V: $at → $to, " "$D/migrate.out" || vp_fail "migration $i: unexpected result line: $(cat "$D/migrate.out")"
  times+=("$((e - s))")
  vp_note "migration $i: $(cat "$D/migrate.out") (wall $((e - s)) ms)"
  at=$to
  before=$(wc -l <"$D/run.out")
  # It runs between migrations: at least one new line before the next.
  vp_wait_until 10 "the workload prints on $to after migration $i" \
    more_lines "$D/run.out" "$before"
done
t1=$(now_ms)
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
vp_note "$MIGRATIONS migrations in $((t1 - t0)) ms; per migration (wall, ms): min $(head -n 1 <<<"$sorted")," \
  "median $(sed -n "$(((MIGRATIONS + 1) / 2))p" <<<"$sorted"), max $(tail -n 1 <<<"$sorted")"

where=$(host_run h2 "$VPROC" ps 2>/dev/null | awk -v v="$V" '$1 == v {print $2}')
vp_expect_eq "$where" "$at" "vproc ps shows vpid $V on $at"

# Stop it from a node where it does not run: it finishes its line and exits 7.
other=h1
[ "$at" = h1 ] && other=h2
host_run "$other" "$VPROC" kill -USR1 "$V" || vp_fail "vproc kill -USR1 $V on $other failed"
vp_wait_until 30 "the parent's wait ends" ended "$job"
wait "$job"
vp_expect_eq "$?" 7 "the parent gets the exit status after $MIGRATIONS migrations"
lines=$(wc -l <"$D/run.out")
"$PY" "$PROG" "$lines" >"$D/native.out"
cmp -s "$D/native.out" "$D/run.out" || { diff "$D/native.out" "$D/run.out" | head; vp_fail "output differs from a native run of $lines lines"; }
vp_note "ok: $lines lines identical to a native run"
[ -s "$D/run.err" ] && vp_fail "the workload wrote to stderr: $(head -c 1000 "$D/run.err")"

# Nothing left anywhere. The shadow, keepers and guests exit right after the
# process; give them a moment.
leftovers() {  # host: processes of the workload's kind still in that host
  host_run "$1" ps -eo pid=,args= 2>/dev/null |
    grep -E 'vproc-shadow|vproc restore|vproc-restorer|mig_until|vproc-run' | grep -v grep
}
for h in "${hosts[@]}"; do
  vp_wait_until 10 "no process of the workload is left on $h" test -z "$(leftovers "$h")"
  vp_note "ok: no shadow, keeper or guest left on $h"
  ls -A "$(host_runtime_dir "$h")/spool" >"$D/spool.$h" 2>&1
  [ -s "$D/spool.$h" ] && vp_fail "spool of $h not empty: $(cat "$D/spool.$h")"
  host_run "$h" "$VPROC" ps --node "$h" >"$D/ps.$h" 2>&1 || vp_fail "vproc ps on $h failed: $(cat "$D/ps.$h")"
  awk 'NR > 1' "$D/ps.$h" >"$D/ps.rows.$h"
  [ -s "$D/ps.rows.$h" ] && vp_fail "vproc ps on $h still lists: $(cat "$D/ps.$h")"
  vp_note "ok: $h's spool is empty and its table lists nothing"
done
vp_pass
