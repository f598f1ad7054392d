#!/bin/bash
# Ten generations: a python3 loop is checkpointed (`vproc checkpoint --stop`),
# killed and restored; the restored process runs on a little, and is then
# checkpointed, killed and restored in turn, ten times, each generation from
# the image of the one before. The vpid never changes, each generation has a
# new real pid, and the final output is that of an uninterrupted run. Even
# generations are restored with --eager (memory read in at once), odd ones
# lazily (mapped from their image).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
PROG=$HERE/programs/ckpt_progress.py
STEPS=4000
GENERATIONS=10

vp_start_native_bg "$D/ref.out" /usr/bin/python3 "$PROG" "$D/ref.progress" "$STEPS"

vp_start_bg "$D/run.out" "$D/run.out.err" /usr/bin/python3 "$PROG" "$D/run.progress" "$STEPS"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_expect_vpid "$vpid" "the python loop's vpid"
seen_pids=" $pid "
lines=0
for gen in $(seq 1 "$GENERATIONS"); do
  # Each generation must make progress of its own before the next checkpoint.
  vp_wait_lines "$D/run.progress" $((lines + 100)) 20 "generation $((gen - 1))" "$pid"
  how=lazily
  [ $((gen % 2)) = 0 ] && how=eagerly
  VP_RESTORE_ARGS=$([ "$how" = eagerly ] && echo --eager) \
    vp_ckpt_kill_restore "$vpid" "$pid" "$D/gen$gen.vpimg" "$D/run.out" "$D/run.out.err"
  lines=$(wc -l <"$D/run.progress")
  [ "$lines" -lt "$STEPS" ] || vp_fail "the loop finished before checkpoint $gen"
  pid=$VP_BG_PID
  case "$seen_pids" in *" $pid "*) vp_fail "generation $gen reuses real pid $pid" ;; esac
  seen_pids="$seen_pids$pid "
  vp_expect_restored "$vpid" "$pid"
  vp_note "ok: generation $gen restored $how from the image of generation $((gen - 1)) (taken at step $lines)"
done
vp_wait_exit "$pid" 50 "generation $GENERATIONS"
vp_expect_rc "$VP_RC" 0 "generation $GENERATIONS" "$D/run.out.err"

vp_wait_native "$D/ref.out"
vp_compare_outputs reference "$D/ref.out" 0 restored "$D/run.out" 0
cmp -s "$D/ref.progress" "$D/run.progress" ||
  vp_fail "progress files differ: $(cmp "$D/ref.progress" "$D/run.progress" 2>&1)"
vp_note "ok: after $GENERATIONS restores, stdout and all $STEPS progress lines identical to the uninterrupted run"
vp_pass
