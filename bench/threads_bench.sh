#!/usr/bin/env bash
# Checkpoint and restore of a process with many threads beside the same
# process with one, from outside (`vproc checkpoint`, `vproc restore`), and
# prints "measure | 1 thread | N threads":
#
#   bench/threads_bench.sh [BUILD_DIR]     (default: ./build of the repository)
#
# The process (bench/threads_bench_prog) has MIB (default 256) MiB of touched
# random data and THREADS (default 64) threads, all but one waiting on a
# condition variable. For each: the freeze of a checkpoint that lets it run on
# (the image's frozen_ns, which `vproc checkpoint` also prints), the whole
# `vproc checkpoint` command, the image size; then, from a `--stop` image, the
# time from just before exec'ing `vproc restore` to the restored program's
# vproc_at_restore callback (it prints CLOCK_REALTIME there). REPS (default 3)
# runs of each, medians shown. Only figures: nothing is asserted. The daemon
# is private; the images go to a temporary directory under /tmp, removed at
# the end with every process started here, whatever happens.
set -euo pipefail
export LC_ALL=C  # $EPOCHREALTIME with a '.'

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$repo/build}" 2>/dev/null && pwd) || { echo "bench/threads_bench.sh: no build directory '${1:-$repo/build}' (build first: scripts/test.sh)" >&2; exit 2; }
mib=${MIB:-256}
threads=${THREADS:-64}
reps=${REPS:-3}
[[ $mib =~ ^[1-9][0-9]*$ ]] || { echo "bench/threads_bench.sh: MIB=$mib is not a size" >&2; exit 2; }
[[ $threads =~ ^[1-9][0-9]*$ ]] || { echo "bench/threads_bench.sh: THREADS=$threads is not a count" >&2; exit 2; }
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "bench/threads_bench.sh: REPS=$reps is not a count" >&2; exit 2; }
for f in bin/vprocd bin/vproc-run bin/vproc bin/vproc-restorer lib/libvproc.so bench/threads_bench_prog; do
  [[ -e $build/$f ]] || { echo "bench/threads_bench.sh: $build/$f is missing (build the tree first)" >&2; exit 2; }
done
vproc=$build/bin/vproc
prog=$build/bench/threads_bench_prog

tmp=$(mktemp -d /tmp/vproc-threads-bench.XXXXXX)
source "$repo/bench/lib.sh"
pids=()
cleanup() {
  local p
  for p in "${pids[@]+"${pids[@]}"}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
  stop_daemon "$tmp/vprocd.pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
bench_start_daemon

die() { echo "bench/threads_bench.sh: $*" >&2; exit 1; }
mib_of() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# wait_for FILE PATTERN PID: until FILE has a line matching PATTERN (10 s).
wait_for() {
  local _
  for _ in $(seq 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || die "the program ended: $(cat "$1" "$1.err" "$tmp/restore.out" 2>/dev/null)"
    sleep 0.05
  done
  die "no '$2' in $1 after 10 s"
}

# vpid_of PID: the vpid `vproc ps --json` lists for real pid PID.
vpid_of() {
  local _ v
  for _ in $(seq 100); do
    v=$("$vproc" ps --json | /usr/bin/python3 -c '
import json, sys
for e in json.load(sys.stdin):
    if e.get("pid") == int(sys.argv[1]) and not e.get("thread"):
        print(e["vpid"])' "$1")
    [[ -n $v ]] && { echo "$v"; return 0; }
    sleep 0.1
  done
  die "vproc ps never listed pid $1"
}

# start_prog N OUT: the program with N threads under vproc-run, descriptors
# above 2 closed (an inherited pipe would make checkpoints refuse); sets PID.
start_prog() {
  (
    for f in "/proc/$BASHPID/fd"/*; do
      n=${f##*/}
      if ((n > 2)); then eval "exec $n>&-"; fi
    done
    exec "$build/bin/vproc-run" --no-start -- "$prog" "$1" "$mib"
  ) >"$2" 2>"$2.err" </dev/null &
  PID=$!
  pids+=("$PID")
  wait_for "$2" '^ready' "$PID"
}

# kill_prog PID: SIGKILL and reap.
kill_prog() {
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# measure N: fills $frozen $command $size $restore (medians) for N threads.
measure() {
  local n=$1 vpid t0 i out
  : >"$tmp/frozen" && : >"$tmp/command" && : >"$tmp/restore"
  start_prog "$n" "$tmp/run.out"
  vpid=$(vpid_of "$PID")
  for i in $(seq "$reps"); do
    rm -f "$tmp/live.vpimg"
    t0=$(now_ns)
    "$vproc" checkpoint -o "$tmp/live.vpimg" "$vpid" >"$tmp/ckpt.out" 2>&1 </dev/null ||
      die "$n threads: vproc checkpoint failed: $(cat "$tmp/ckpt.out")"
    echo $(($(now_ns) - t0)) >>"$tmp/command"
    frozen_ns "$tmp/live.vpimg" >>"$tmp/frozen"
    size=$(stat -c %s "$tmp/live.vpimg")
  done
  echo "bench: $n thread(s): $(cat "$tmp/ckpt.out")" >&2
  "$vproc" checkpoint --stop -o "$tmp/stop.vpimg" "$vpid" >"$tmp/ckpt.out" 2>&1 </dev/null ||
    die "$n threads: vproc checkpoint --stop failed: $(cat "$tmp/ckpt.out")"
  kill_prog "$PID"
  # The restored program's stdout is the same file, reopened at its offset
  # at the checkpoint: cut what a restore added before the next one.
  local at_stop
  at_stop=$(stat -c %s "$tmp/run.out")
  for i in $(seq "$reps"); do
    truncate -s "$at_stop" "$tmp/run.out"
    (
      now_ns >"$tmp/t0"
      exec "$vproc" restore "$tmp/stop.vpimg"
    ) >"$tmp/restore.out" 2>&1 </dev/null &
    PID=$!
    pids+=("$PID")
    wait_for "$tmp/run.out" '^restored_realtime_ns' "$PID"
    echo $(($(value restored_realtime_ns <"$tmp/run.out") - $(cat "$tmp/t0"))) >>"$tmp/restore"
    kill_prog "$PID"
  done
  frozen=$(median <"$tmp/frozen")
  command=$(median <"$tmp/command")
  restore=$(median <"$tmp/restore")
  rm -f "$tmp/live.vpimg" "$tmp/stop.vpimg"
}

echo "bench: 1 thread, $mib MiB, $reps checkpoints and restores ..." >&2
measure 1
f1=$frozen c1=$command s1=$size r1=$restore
echo "bench: $threads threads, $mib MiB, $reps checkpoints and restores ..." >&2
measure "$threads"
fn=$frozen cn=$command sn=$size rn=$restore

printf '%-36s | %-12s | %-12s\n' "measure ($mib MiB touched)" "1 thread" "$threads threads"
printf '%s\n' "$(printf '%.0s-' {1..36})-+-$(printf '%.0s-' {1..12})-+-$(printf '%.0s-' {1..12})"
printf '%-36s | %12s | %12s\n' "frozen per checkpoint" "$(ms "$f1")" "$(ms "$fn")"
printf '%-36s | %12s | %12s\n' "vproc checkpoint command" "$(ms "$c1")" "$(ms "$cn")"
printf '%-36s | %12s | %12s\n' "image size" "$(mib_of "$s1")" "$(mib_of "$sn")"
printf '%-36s | %12s | %12s\n' "restore: to vproc_at_restore" "$(ms "$r1")" "$(ms "$rn")"
echo "(medians of $reps runs. frozen: the image's frozen_ns; the command includes the tool's start, the"
echo " daemon round trip and the image write; restore: from just before exec'ing 'vproc restore' (lazy,"
echo " verifying every chunk) to the restored program's vproc_at_restore callback.)"
