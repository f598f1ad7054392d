#!/bin/bash
# run_scenario.sh MODE PROGRAM [ARGS...]
#
# Runs a scenario program (test/scenarios/*.c) in one mode. Its stdout must end
# with the line EXIT-SUCCESS and its exit status must be 0; in every mode but
# `native`, stdout and exit status must also be identical to a native run
# (the scenarios print relations, never pid numbers).
#
# Modes (one function mode_NAME each; a new mode is a new function):
#   native   run the program directly
#   vproc    under vproc-run, with a private daemon
#   preload  with LD_PRELOAD=libvproc.so and VPROC_SOCKET, no vproc-run
#   ckpt     under vproc-run, checkpointed and restored at each of the
#            program's SCENARIO_CKPT_POINT()s (see mode_ckpt)
#   migrate  under vproc-run on host h1 of a two-host cluster, migrated to h2
#            and back at each SCENARIO_CKPT_POINT() and SCENARIO_MIGRATE_POINT()
#            (see mode_migrate; needs root for the hosts' namespaces)
# In the vproc modes SCENARIO_EXPECT_VIRTUAL=1 makes the program fail (exit 99)
# on any pid below 2^22, i.e. a real pid that leaked through.
HERE=$(cd "$(dirname "$0")" && pwd)
VP_NAME="scenario/${1:-?}/$(basename "${2:-?}")"
. "$HERE/harness.sh"
. "$HERE/ckpt.sh"

usage() {
  echo "usage: run_scenario.sh MODE PROGRAM [ARGS...]; MODE is one of: $(declare -F | sed -n 's/^declare -f mode_//p' | tr '\n' ' ')" >&2
  exit 2
}

# The reference run every other mode is compared with.
native_reference() {
  vp_run_native "$VP_DIR/out.native" "$@"
  vp_check_run native "$VP_DIR/out.native" "$VP_RC"
  NATIVE_RC=$VP_RC
}

mode_native() {
  vp_setup_dir
  native_reference "$@"
}

mode_vproc() {
  vp_setup
  native_reference "$@"
  SCENARIO_EXPECT_VIRTUAL=1 vp_run_vproc "$VP_DIR/out.vproc" "$@"
  vp_check_run vproc "$VP_DIR/out.vproc" "$VP_RC"
  vp_compare_outputs native "$VP_DIR/out.native" "$NATIVE_RC" vproc "$VP_DIR/out.vproc" "$VP_RC"
}

mode_preload() {
  vp_setup
  native_reference "$@"
  SCENARIO_EXPECT_VIRTUAL=1 vp_run_preload "$VP_DIR/out.preload" "$@"
  vp_check_run preload "$VP_DIR/out.preload" "$VP_RC"
  vp_compare_outputs native "$VP_DIR/out.native" "$NATIVE_RC" preload "$VP_DIR/out.preload" "$VP_RC"
}

# At each SCENARIO_CKPT_POINT() (scenario.h) the program writes
# $dir/point-N.vpimg and stops; we SIGKILL it and go on with
# `vproc restore point-N.vpimg`, every generation appending to the same output
# files, until one exits: its status is the run's. Output and status must be
# those of the native run, and at least one point must have been passed.
mode_ckpt() {
  vp_setup
  native_reference "$@"
  local dir=$VP_DIR/images out=$VP_DIR/out.ckpt gen=0 pid what deadline=$((SECONDS + VP_TIMEOUT))
  mkdir -p "$dir"
  : >"$out"
  : >"$out.err"
  (vp_close_extra_fds && VPROC_SCENARIO_CKPT_DIR=$dir SCENARIO_EXPECT_VIRTUAL=1 \
    exec "$VPROC_RUN" --no-start "$@") >>"$out" 2>>"$out.err" </dev/null &
  pid=$!
  vp_track_pid "$pid"
  what="the original run"
  while :; do
    local st
    st=$(vp_state "$pid")
    case "$st" in
      '' | Z | X)
        VP_RC=0
        wait "$pid" 2>/dev/null || VP_RC=$?
        vp_untrack_pid "$pid"
        break
        ;;
      T)
        local image=$dir/point-$((gen + 1)).vpimg
        [ -s "$image" ] || vp_fail "$what stopped, but there is no $image (images: $(ls "$dir"))
--- stderr (last lines):
$(tail -n 15 "$out.err")"
        [ -e "$dir/point-$((gen + 2)).vpimg" ] && vp_fail "$what wrote more than one image: $(ls "$dir")"
        vp_kill_reap "$pid"
        gen=$((gen + 1))
        [ "$gen" -le 20 ] || vp_fail "more than 20 checkpoints: a point in a loop?"
        vp_restore_bg "$image" "$out" "$out.err"
        pid=$VP_BG_PID
        what="generation $gen (vproc restore $(basename "$image"))"
        ;;
    esac
    [ "$SECONDS" -le "$deadline" ] || vp_fail "timed out after ${VP_TIMEOUT}s in $what (state $st)
--- stdout (last lines):
$(tail -n 5 "$out")
--- stderr (last lines):
$(tail -n 15 "$out.err")"
    sleep 0.02
  done
  vp_check_run "ckpt ($what)" "$out" "$VP_RC"
  vp_compare_outputs native "$VP_DIR/out.native" "$NATIVE_RC" ckpt "$out" "$VP_RC"
  [ "$gen" -ge 1 ] || vp_fail "no checkpoint was taken (no SCENARIO_CKPT_POINT reached?)"
  vp_note "ok: $gen checkpoint/restore generations"
}

# At each migration point (scenario.h) the program writes its pid to
# $dir/point-N.want and waits for $dir/point-N.done; meanwhile we migrate it
# h1 -> h2 -> h1 with `vproc migrate`. Its children stay where they were
# forked. Output and exit status must be those of the native run, and at
# least one point must have been passed. The program's files (TMPDIR) and the
# point files are in the cluster dir, which both hosts see at the same path.
mode_migrate() {
  vp_require_tools
  vp_setup_dir  # (each host has its own daemon)
  . "$HERE/cluster.sh"
  cluster_need_namespaces || vp_skip "$CLUSTER_NO_NS_REASON"
  cluster_daemon_supported || vp_skip "this vprocd has no --cluster"
  native_reference "$@"
  cluster_up 2
  local dir=$CLUSTER_DIR/points tmp=$CLUSTER_DIR/tmp out=$VP_DIR/out.migrate n=0 job v to
  local deadline=$((SECONDS + VP_TIMEOUT))
  mkdir -p "$dir" "$tmp"
  chmod 1777 "$dir" "$tmp"
  # Descriptors the runner left open would make the checkpoint refuse.
  host_spawn h1 /bin/bash -c 'for f in /proc/$$/fd/*; do fd=${f##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
    exec "$@"' close-fds /usr/bin/env VPROC_SCENARIO_MIGRATE_DIR="$dir" TMPDIR="$tmp" SCENARIO_EXPECT_VIRTUAL=1 \
    "$VPROC_RUN" --no-start "$@" >"$out" 2>"$out.err" </dev/null
  job=$HOST_JOB
  while kill -0 "$job" 2>/dev/null; do
    if [ -e "$dir/point-$((n + 1)).want" ]; then
      n=$((n + 1))
      [ "$n" -le 20 ] || vp_fail "more than 20 migration points: a point in a loop?"
      v=$(<"$dir/point-$n.want")
      for to in h2 h1; do
        host_run h1 "$VPROC" migrate "$v" "$to" >"$VP_DIR/migrate.out" 2>&1 ||
          vp_fail "point $n: migrate $v $to failed: $(cat "$VP_DIR/migrate.out")
--- stderr (last lines):
$(tail -n 15 "$out.err")"
      done
      : >"$dir/point-$n.done"
    fi
    [ "$SECONDS" -le "$deadline" ] || vp_fail "timed out after ${VP_TIMEOUT}s after $n migration points
--- stdout (last lines):
$(tail -n 5 "$out")
--- stderr (last lines):
$(tail -n 15 "$out.err")"
    sleep 0.02
  done
  VP_RC=0
  wait "$job" || VP_RC=$?
  vp_check_run "migrate" "$out" "$VP_RC"
  vp_compare_outputs native "$VP_DIR/out.native" "$NATIVE_RC" migrate "$out" "$VP_RC"
  [ "$n" -ge 1 ] || vp_fail "no migration point was reached"
  vp_note "ok: $n migration points, each h1 -> h2 -> h1"
}

[ $# -ge 2 ] || usage
mode=$1
shift
declare -F "mode_$mode" >/dev/null || { echo "run_scenario.sh: unknown mode '$mode'" >&2; usage; }
[ -x "$1" ] || vp_fail "scenario program '$1' is missing or not executable"
"mode_$mode" "$@"
vp_note "$(grep -c '^ok: ' "$VP_DIR/out.native") checks, same output in mode $mode"
vp_pass
