#!/bin/bash
# Live migration of multi-threaded programs between namespace hosts
# (test/lib/cluster.sh): a C++ pipeline (programs/thread_pipeline.cc: a
# producer, 6 consumers, std::mutex and std::condition_variable), then a
# python3 threading pool on a queue.Queue (programs/ckpt_threads.py). Each is
# started under vproc-run on h1, migrated to h2 while it runs, and back to h1.
# Its vpid never changes, its output (forwarded through the shadow on h1) is
# byte-identical to a native run, and its parent gets its exit status.
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

# python3 threading: a feeder, 8 workers, a lock; progress lines in a file.
PY_PROG=$HERE/programs/ckpt_threads.py
PY_ITEMS=6000
vp_start_native_bg "$D/py.native.out" /usr/bin/python3 "$PY_PROG" "$D/py.native.progress" "$PY_ITEMS"
host_spawn h1 "$VPROC_RUN" /usr/bin/python3 "$PY_PROG" "$D/py.progress" "$PY_ITEMS" >"$D/py.out" 2>"$D/py.err" 251>&-
job=$HOST_JOB
done_items() { [ -e "$D/py.progress" ] && wc -l <"$D/py.progress" || echo 0; }
py_progress() {  # N WHERE
  local i
  for i in $(seq 1 600); do
    [ "$(done_items)" -ge "$1" ] && return 0
    kill -0 "$job" 2>/dev/null || vp_fail "the python pool ended on $2 after $(done_items) items; stderr: $(tail -n 10 "$D/py.err")"
    sleep 0.05
  done
  vp_fail "the python pool did only $(done_items) of $1 items within 30 s on $2"
}
py_progress 300 h1
P=$(host_run h1 "$VPROC" ps 2>/dev/null | awk '/ckpt_threads.py/ {print $1; exit}')
vp_expect_vpid "$P" "the python pool's vpid on h1"
for to in h2 h1; do
  before=$(done_items)
  [ "$before" -lt "$PY_ITEMS" ] || vp_fail "the python pool finished before its migration to $to"
  migrate "$P" "$to" || vp_fail "migration of the python pool $P to $to failed: $(cat "$D/migrate.out")"
  py_progress $((before + 300)) "$to"
done
wait "$job"
rc=$?
[ "$rc" = 0 ] || vp_fail "the migrated python pool's parent got exit status $rc; stderr: $(tail -n 10 "$D/py.err")"
vp_wait_native "$D/py.native.out"
cmp -s "$D/py.native.out" "$D/py.out" || vp_fail "python stdout differs: $(diff "$D/py.native.out" "$D/py.out" | head)"
cmp -s "$D/py.native.progress" "$D/py.progress" ||
  vp_fail "python progress differs: $(diff "$D/py.native.progress" "$D/py.progress" | head)"
vp_note "ok: the python threading pool's $PY_ITEMS items identical to the native run after migrations h1 -> h2 -> h1"
vp_pass
