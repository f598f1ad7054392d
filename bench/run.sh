#!/usr/bin/env bash
# Runs the benchmarks natively and under vproc against a private daemon, and
# prints "benchmark | native | vproc | ratio".
#
#   bench/run.sh [BUILD_DIR]     (default: ./build of the repository)
#
# The daemon listens on a socket in a temporary directory and is stopped at the
# end, whatever happens. Set RUNS (default 200) for the vproc-run startup test,
# FORK_REPS (default 7) for the alternating fork runs (medians are shown),
# and CKPT=1 to time checkpoint and restore too (bench/ckpt_bench.sh: 1 GiB
# images in /tmp, about half a minute), and THREADS_BENCH=1 for checkpoint and
# restore of a process with 64 threads beside one with 1 (bench/threads_bench.sh).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$repo/build}" 2>/dev/null && pwd) || { echo "bench/run.sh: no build directory '${1:-$repo/build}' (build first: scripts/test.sh)" >&2; exit 2; }
runs=${RUNS:-200}
for f in bin/vprocd bin/vproc-run bin/vproc lib/libvproc.so bench/getpid_bench bench/fork_bench bench/spawn_bench; do
  [[ -e $build/$f ]] || { echo "bench/run.sh: $build/$f is missing (build the tree first)" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/vproc-bench.XXXXXX)
source "$repo/bench/lib.sh"
cleanup() {
  stop_daemon "$tmp/vprocd.pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
bench_start_daemon
run_vproc() { "$build/bin/vproc-run" --no-start -- "$@"; }

rows=()
add_row() {  # name native vproc unit
  local ratio
  ratio=$(awk -v a="$2" -v b="$3" 'BEGIN { if (a > 0) printf "%.2fx", b / a; else print "-" }')
  rows+=("$1|$2 $4|$3 $4|$ratio")
}

echo "bench: getpid ..." >&2
native=$("$build/bench/getpid_bench")
vproc=$(run_vproc "$build/bench/getpid_bench")
for k in getpid syscall_getpid raw_getpid; do
  add_row "$k (ns/call)" "$(value $k <<<"$native")" "$(value $k <<<"$vproc")" ns
done

# Native and vproc runs alternate, FORK_REPS (default 7) of each, and the row
# shows the medians: a single run varies by 10-15% on a small VM.
fork_reps=${FORK_REPS:-7}
echo "bench: fork, $fork_reps runs each ..." >&2
: >"$tmp/fork.native"
: >"$tmp/fork.vproc"
for ((i = 0; i < fork_reps; i++)); do
  "$build/bench/fork_bench" | value fork_exit_wait >>"$tmp/fork.native"
  run_vproc "$build/bench/fork_bench" | value fork_exit_wait >>"$tmp/fork.vproc"
done
add_row "fork+_exit+waitpid (us)" "$(median <"$tmp/fork.native")" "$(median <"$tmp/fork.vproc")" us

echo "bench: startup, $runs runs each ..." >&2
native=$("$build/bench/spawn_bench" "$runs" /bin/true)
vproc=$("$build/bench/spawn_bench" "$runs" "$build/bin/vproc-run" --no-start /bin/true)
add_row "/bin/true mean (ms)" "$(value mean <<<"$native")" "$(value mean <<<"$vproc")" ms
add_row "/bin/true median (ms)" "$(value median <<<"$native")" "$(value median <<<"$vproc")" ms

printf '%-26s | %-12s | %-12s | %s\n' benchmark native vproc ratio
printf '%-26s-+-%-12s-+-%-12s-+-%s\n' "$(printf '%.0s-' {1..26})" "$(printf '%.0s-' {1..12})" "$(printf '%.0s-' {1..12})" "-----"
for r in "${rows[@]}"; do
  IFS='|' read -r name a b ratio <<<"$r"
  printf '%-26s | %12s | %12s | %s\n' "$name" "$a" "$b" "$ratio"
done
echo "(vproc: under vproc-run with the preload library; /bin/true rows compare 'vproc-run /bin/true' with '/bin/true')"

if [[ ${CKPT:-0} == 1 ]]; then
  echo
  "$repo/bench/ckpt_bench.sh" "$build"
fi

if [[ ${THREADS_BENCH:-0} == 1 ]]; then
  echo
  "$repo/bench/threads_bench.sh" "$build"
fi
