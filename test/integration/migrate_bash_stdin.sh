#!/bin/bash
# Migration of programs nobody here wrote, by their standard streams, between
# namespace hosts (test/lib/cluster.sh), no terminal anywhere:
#
# * bash running an arithmetic loop (programs/mig_arith.bash: its script file
#   is read as it runs) with stdout and stderr to two different files, migrated
#   h1 -> h2 mid-run and back: both files byte-identical to a native run, each
#   stream where it belongs, exit status 3 at the parent;
# * python3 summing the numbers `seq` writes into its stdin pipe on h1
#   (programs/mig_sum.py), migrated mid-read 8 times (h1 -> h2 -> h3 -> h1 ->
#   h2 -> h1 -> h3 -> h2 -> h3: from and to its home, between guests): every
#   line arrives exactly once (the totals match a native run), exit status 5.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/cluster.sh"
cluster_test_start
PY=/usr/bin/python3
ARITH=$HERE/programs/mig_arith.bash
SUM=$HERE/programs/mig_sum.py
ROUNDS=150
NUMBERS=200000

bash "$ARITH" "$ROUNDS" >"$D/bash.native.out" 2>"$D/bash.native.err"
vp_expect_eq "$?" 3 "the native bash run exits 3"
seq 1 "$NUMBERS" | "$PY" "$SUM" >"$D/sum.native.out"
vp_expect_eq "$?" 5 "the native reader exits 5"

cluster_up 3

# The parent's wait ends (bounded: a lost exit status must fail, not hang).
ended() { ! kill -0 "$1" 2>/dev/null; }

vpid_of() {  # host, pattern
  host_run "$1" "$VPROC" ps 2>/dev/null | awk -v p="$2" '$0 ~ p {print $1; exit}'
}
migrate() {  # vpid from to
  host_run h1 "$VPROC" migrate "$1" "$3" >"$D/migrate.out" 2>&1 ||
    vp_fail "migration of $1 $2 -> $3 failed: $(cat "$D/migrate.out")"
  vp_note "$(cat "$D/migrate.out")"
  grep -q "^vpid $1: $2 → $3, " "$D/migrate.out" || vp_fail "unexpected result line: $(cat "$D/migrate.out")"
}
lines() { wc -l <"$1"; }
more_lines() { [ "$(lines "$1")" -gt "$2" ]; }  # FILE N: more than N lines now

# --- bash, stdout and stderr apart ---
host_spawn h1 "$VPROC_RUN" bash "$ARITH" "$ROUNDS" >"$D/bash.out" 2>"$D/bash.err" 251>&-
job=$HOST_JOB
vp_wait_until 10 "bash runs on h1" grep -q "^round 5 " "$D/bash.out"
V=$(vpid_of h1 mig_arith)
[ -n "$V" ] || vp_fail "no vpid for bash on h1"
migrate "$V" h1 h2
n=$(lines "$D/bash.out")
vp_wait_until 10 "bash goes on on h2" more_lines "$D/bash.out" $((n + 5))
migrate "$V" h2 h1
vp_wait_until 30 "the parent's wait ends" ended "$job"
wait "$job"
vp_expect_eq "$?" 3 "the parent gets bash's exit status 3"
cmp -s "$D/bash.native.out" "$D/bash.out" || { diff "$D/bash.native.out" "$D/bash.out" | head; vp_fail "bash's stdout differs from the native run"; }
cmp -s "$D/bash.native.err" "$D/bash.err" || { diff "$D/bash.native.err" "$D/bash.err" | head; vp_fail "bash's stderr differs from the native run"; }
vp_note "ok: bash's stdout ($(lines "$D/bash.out") lines) and stderr ($(lines "$D/bash.err") lines) identical to the native run"

# --- a reader of a pipe on h1 ---
host_spawn h1 bash -c "seq 1 $NUMBERS | \"\$0\" \"\$1\" \"\$2\"" "$VPROC_RUN" "$PY" "$SUM" >"$D/sum.out" 2>"$D/sum.err" 251>&-
job=$HOST_JOB
vp_wait_until 10 "the reader runs on h1" grep -q "^3000 " "$D/sum.out"
V=$(vpid_of h1 mig_sum)
[ -n "$V" ] || vp_fail "no vpid for the reader on h1"
at=h1
for to in h2 h3 h1 h2 h1 h3 h2 h3; do
  migrate "$V" "$at" "$to"
  at=$to
  n=$(lines "$D/sum.out")
  vp_wait_until 10 "the reader reads on $to" more_lines "$D/sum.out" $((n + 2))
done
vp_wait_until 30 "the parent's wait ends" ended "$job"
wait "$job"
vp_expect_eq "$?" 5 "the parent gets the reader's exit status 5"
[ -s "$D/sum.err" ] && vp_fail "the reader wrote to stderr: $(head -c 1000 "$D/sum.err")"
cmp -s "$D/sum.native.out" "$D/sum.out" || { diff "$D/sum.native.out" "$D/sum.out" | head; vp_fail "the reader's totals differ from the native run: input lost or repeated"; }
vp_note "ok: every one of $NUMBERS lines read exactly once after 8 migrations mid-read"
vp_pass
