#!/bin/bash
# Live migration of a multi-threaded C++ program (programs/thread_pipeline.cc:
# a producer, 6 consumers, std::mutex and std::condition_variable) between
# namespace hosts (test/lib/cluster.sh): started under vproc-run on h1,
# migrated to h2 while it runs, and back to h1. Its vpid never changes, its
# output (forwarded through the shadow on h1) is byte-identical to a native
# run, and its parent gets its exit status.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
. "$HERE/../lib/cluster.sh"
cluster_test_start
PROG=$VPROC_HELPER_DIR/thread_pipeline
[ -x "$PROG" ] || vp_fail "missing $PROG (build the integration_helpers target)"
ITEMS=6000

vp_start_native_bg "$D/native.out" "$PROG" "$ITEMS"

cluster_up 2

migrate() {  # vpid host
  host_run h1 "$VPROC" migrate "$1" "$2" >"$D/migrate.out" 2>&1
  local rc=$?
  vp_note "migrate $1 $2: $(cat "$D/migrate.out") (rc $rc)"
  return $rc
}
lines() { wc -l <"$D/run.out"; }
# progress N WHERE: waits (20 s) until the pipeline has printed N lines; fails
# at once should it end first.
progress() {
  local i
  for i in $(seq 1 400); do
    [ "$(lines)" -ge "$1" ] && return 0
    kill -0 "$job" 2>/dev/null || vp_fail "the pipeline ended on $2 after $(lines) lines; stderr: $(tail -n 10 "$D/run.err")"
    sleep 0.05
  done
  vp_fail "the pipeline printed only $(lines) of $1 lines within 20 s on $2"
}

host_spawn h1 "$VPROC_RUN" "$PROG" "$ITEMS" >"$D/run.out" 2>"$D/run.err" 251>&-
job=$HOST_JOB
progress 500 h1
V=$(host_run h1 "$VPROC" ps 2>/dev/null | awk '/thread_pipeline/ {print $1; exit}')
vp_expect_vpid "$V" "the pipeline's vpid on h1"
for to in h2 h1; do
  before=$(lines)
  [ "$before" -lt "$ITEMS" ] || vp_fail "the pipeline finished before its migration to $to"
  migrate "$V" "$to" || vp_fail "migration of the threaded pipeline $V to $to failed: $(cat "$D/migrate.out")"
  vp_expect_contains "$D/migrate.out" "vpid $V: " "the result line names vpid $V"
  where=$(host_run h2 "$VPROC" ps 2>/dev/null | awk -v v="$V" '$1 == v {print $2}')
  vp_expect_eq "$where" "$to" "vproc ps on h2 shows vpid $V on $to"
  # It makes progress where it is now.
  progress $((before + 500)) "$to"
done

wait "$job"
rc=$?
[ "$rc" = 0 ] || vp_fail "the migrated pipeline's parent got exit status $rc, not 0; stderr: $(tail -n 10 "$D/run.err")"
vp_note "ok: the parent gets the migrated pipeline's exit status 0"
vp_wait_native "$D/native.out"
cmp -s "$D/native.out" "$D/run.out" ||
  vp_fail "output differs from the native run: $(diff "$D/native.out" "$D/run.out" | head -n 20)
--- stderr: $(tail -n 20 "$D/run.err")"
vp_note "ok: $ITEMS items identical to the native run after migrations h1 -> h2 -> h1"
vp_pass
