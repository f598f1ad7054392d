#!/bin/bash
# Checkpoint/restore of a C++ producer/consumer pipeline (programs/
# thread_pipeline.cc: a producer, 6 consumers, std::mutex and
# std::condition_variable, the main thread printing every result in order):
# a checkpoint while it runs on, then `vproc checkpoint --stop`, SIGKILL,
# `vproc restore`, and the restored process checkpointed, killed and restored
# again (--eager this time). Its output is byte-identical to an uninterrupted
# run; every image holds all 8 threads.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
PROG=$VPROC_HELPER_DIR/thread_pipeline
[ -x "$PROG" ] || vp_fail "missing $PROG (build the integration_helpers target)"
ITEMS=8000
THREADS=8  # main, producer, 6 consumers

# inspect_threads IMAGE WHAT: the image holds all the threads.
inspect_threads() {
  timeout 30 "$VPROC" inspect "$1" >"$1.inspect" 2>&1 || vp_fail "vproc inspect $1: $(cat "$1.inspect")"
  vp_expect_contains "$1.inspect" "threads: $THREADS" "$2 holds all $THREADS threads"
}

vp_start_native_bg "$D/ref.out" "$PROG" "$ITEMS"

vp_start_bg "$D/run.out" "$D/run.out.err" "$PROG" "$ITEMS"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_expect_vpid "$vpid" "the pipeline's vpid"

# A checkpoint while it runs on.
vp_wait_lines "$D/run.out" 1000 20 "the pipeline" "$pid"
rc=0
timeout -k 5 30 "$VPROC" checkpoint -o "$D/live.vpimg" "$vpid" >"$D/live.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || vp_fail "vproc checkpoint of the running pipeline: exit status $rc: $(cat "$D/live.out")"
vp_alive "$pid" && ! vp_stopped "$pid" || vp_fail "the pipeline does not run on after a checkpoint without --stop"
inspect_threads "$D/live.vpimg" "the live image"
vp_note "ok: $(cat "$D/live.out")"

# Generation 1 (lazy restore), then generation 2 (eager) from the restored one.
lines=1000
for gen in 1 2; do
  vp_wait_lines "$D/run.out" $((lines + 1500)) 20 "generation $((gen - 1))" "$pid"
  VP_RESTORE_ARGS=$([ "$gen" = 2 ] && echo --eager) \
    vp_ckpt_kill_restore "$vpid" "$pid" "$D/gen$gen.vpimg" "$D/run.out" "$D/run.out.err"
  lines=$(wc -l <"$D/run.out")
  [ "$lines" -lt "$ITEMS" ] || vp_fail "the pipeline had finished before checkpoint $gen"
  inspect_threads "$D/gen$gen.vpimg" "the image of generation $gen"
  pid=$VP_BG_PID
  vp_expect_restored "$vpid" "$pid"
  vp_note "ok: generation $gen restored (checkpoint after item $lines of $ITEMS)"
done
vp_wait_exit "$pid" 40 "generation 2"
vp_expect_rc "$VP_RC" 0 "generation 2" "$D/run.out.err"

vp_wait_native "$D/ref.out"
vp_compare_outputs reference "$D/ref.out" 0 restored "$D/run.out" 0
vp_note "ok: $(tail -n 2 "$D/run.out" | head -n 1), identical to the uninterrupted run after 3 checkpoints and 2 restores"
vp_pass
