#!/usr/bin/env bash
# Times checkpoint and restore of a process with 1 GiB of memory and prints
# "measure | vproc | reference":
#
#   bench/ckpt_bench.sh [BUILD_DIR]     (default: ./build of the repository)
#
# (a) 1 GiB of random data in 4 KiB pages: the freeze per checkpoint (the
#     image's frozen_ns) beside a raw fork() of the same process (the freeze is
#     mostly that fork's page-table copy); the image write throughput beside dd
#     writing as many bytes into the same directory (neither calls fsync: both
#     measure writing into the page cache, throttled by writeback as the kernel
#     sees fit); the time from just before exec'ing `vproc restore` to the
#     program's next instruction (it prints CLOCK_REALTIME when
#     vproc_checkpoint() returns 1), for the default, --no-verify and --eager,
#     and until a lazy restore has finished (its populating threads are gone).
# (b) 1 GiB of touched zero pages: the image size (at most 1 MiB).
# (c) 1 GiB of random data in transparent huge pages: the freeze.
#
# Set MIB (default 1024, a multiple of 4) for another size and REPS (default 3)
# for the restores per mode (the table shows the median). The daemon is
# private, the images go to a temporary directory under /tmp, and both are
# removed at the end, whatever happens.
set -euo pipefail
export LC_ALL=C  # $EPOCHREALTIME with a '.'

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$repo/build}" 2>/dev/null && pwd) || { echo "bench/ckpt_bench.sh: no build directory '${1:-$repo/build}' (build first: scripts/test.sh)" >&2; exit 2; }
mib=${MIB:-1024}
reps=${REPS:-3}
[[ $mib =~ ^[0-9]+$ && $mib -ge 4 && $((mib % 4)) -eq 0 ]] || { echo "bench/ckpt_bench.sh: MIB=$mib is not a multiple of 4" >&2; exit 2; }
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "bench/ckpt_bench.sh: REPS=$reps is not a count" >&2; exit 2; }
for f in bin/vprocd bin/vproc-run bin/vproc bin/vproc-restorer lib/libvproc.so bench/ckpt_bench_prog; do
  [[ -e $build/$f ]] || { echo "bench/ckpt_bench.sh: $build/$f is missing (build the tree first)" >&2; exit 2; }
done
vproc=$build/bin/vproc
prog=$build/bench/ckpt_bench_prog

tmp=$(mktemp -d /tmp/vproc-ckpt-bench.XXXXXX)
source "$repo/bench/lib.sh"
cleanup() {
  stop_daemon "$tmp/vprocd.pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
bench_start_daemon

die() { echo "bench/ckpt_bench.sh: $*" >&2; exit 1; }

# checkpoint MODE IMAGE: runs the program under vproc until it has written
# IMAGE; prints its output. Inherited descriptors above 2 (a pipe or socket
# would make the checkpoint refuse) are closed first.
checkpoint() {
  (
    for f in "/proc/$BASHPID/fd"/*; do
      n=${f##*/}
      if ((n > 2)); then eval "exec $n>&-"; fi
    done
    exec "$build/bin/vproc-run" --no-start -- "$prog" "$1" "$2" "$mib" </dev/null
  ) || die "$1: the checkpoint failed"
  [[ -s $2 ]] || die "$1: no image at $2"
}

# restore_once IMAGE [OPTION]: restores IMAGE in place of a subshell, which
# first notes the time; prints "restore_ns populated_ns" after that time.
restore_once() {
  local img=$1 out=$tmp/restore.out t0
  shift
  (
    now_ns >"$tmp/t0"
    exec "$vproc" restore "$@" "$img"
  ) >"$out" </dev/null || die "vproc restore $* failed: $(cat "$out")"
  grep -qx 'verify ok' "$out" || die "vproc restore $*: the restored data differs: $(cat "$out")"
  t0=$(cat "$tmp/t0")
  echo "$(($(value restored_realtime_ns <"$out") - t0)) $(($(value populated_realtime_ns <"$out") - t0))"
}

rows=()
add_row() { rows+=("$1|${2:-}|${3:-}|${4:-}"); }  # measure [vproc reference what-the-reference-is]
bytes=$((mib << 20))
size_name="$mib MiB"
((mib == 1024)) && size_name="1 GiB"
mibps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.0f MiB/s", b / 1048576 / (ns / 1e9) }'; }

# checkpoints MODE IMAGE: REPS checkpoints of a fresh program each, every one
# after a dd of the same size (for the reference; the page cache's state moves
# with whatever else the machine writes, so the two take turns). Leaves the
# last image, its $size, the last $huge, and medians in $frozen $fork $total
# $write (the call less the freeze) $dd_ns.
checkpoints() {
  local out f t t0
  : >"$tmp/frozen" && : >"$tmp/fork" && : >"$tmp/total" && : >"$tmp/write" && : >"$tmp/dd"
  for _ in $(seq "$reps"); do
    # Removing a file drops its dirty pages: each write starts without ours.
    rm -f "$2"
    t0=$(now_ns)
    dd if=/dev/zero of="$tmp/dd.out" bs=4M count=$((mib / 4)) status=none
    echo $(($(now_ns) - t0)) >>"$tmp/dd"
    rm -f "$tmp/dd.out"
    out=$(checkpoint "$1" "$2")
    f=$(frozen_ns "$2")
    t=$(value checkpoint_ns <<<"$out")
    echo "$f" >>"$tmp/frozen"
    echo "$t" >>"$tmp/total"
    echo $((t - f)) >>"$tmp/write"
    value fork_ns <<<"$out" >>"$tmp/fork"
    huge=$(value anon_huge_kib <<<"$out")
  done
  frozen=$(median <"$tmp/frozen")
  fork=$(median <"$tmp/fork")
  total=$(median <"$tmp/total")
  write=$(median <"$tmp/write")
  dd_ns=$(median <"$tmp/dd")
  size=$(stat -c %s "$2")
}

# (a) random data in 4 KiB pages.
echo "bench: $reps checkpoints of $size_name of random data (and dd) ..." >&2
img=$tmp/random.vpimg
checkpoints random "$img"
add_row "(a) $size_name random data, 4 KiB pages"
add_row "  frozen per checkpoint" "$(ms "$frozen")" "$(ms "$fork")" "raw fork() of the same process"
add_row "  vproc_checkpoint() call" "$(ms "$total")" "" "freeze + write + rename"
add_row "  image write throughput" "$(mibps "$size" "$write")" "$(mibps $bytes "$dd_ns")" \
  "dd if=/dev/zero bs=4M (page cache, no fsync)"

for opt in "" --no-verify --eager; do
  echo "bench: restore ${opt:-(default)}, $reps runs ..." >&2
  : >"$tmp/r" && : >"$tmp/p"
  for _ in $(seq "$reps"); do
    res=$(restore_once "$img" $opt)  # an assignment: a failure stops the script
    read -r r p <<<"$res"
    echo "$r" >>"$tmp/r"
    echo "$p" >>"$tmp/p"
  done
  add_row "  restore ${opt:-(default)}: next instruction" "$(ms "$(median <"$tmp/r")")"
  [[ $opt == --eager ]] || add_row "  restore ${opt:-(default)}: populated" "$(ms "$(median <"$tmp/p")")"
done
t0=$(now_ns)
dd if="$img" of=/dev/null bs=4M status=none
add_row "  (reading the image from the page cache)" "" "$(ms $(($(now_ns) - t0)))" "dd if=IMAGE of=/dev/null bs=4M"
rm -f "$img"

# (b) touched zero pages.
echo "bench: $reps checkpoints of $size_name of zero pages ..." >&2
img=$tmp/zero.vpimg
checkpoints zero "$img"
add_row "(b) $size_name touched zero pages"
add_row "  image size" "$(awk -v b="$size" 'BEGIN { printf "%.0f KiB", b / 1024 }')" "<= 1024 KiB" \
  "$( ((size <= 1048576)) && echo "ok" || echo "TOO BIG")"
add_row "  frozen per checkpoint" "$(ms "$frozen")" "$(ms "$fork")" "raw fork() of the same process"
rm -f "$img"

# (c) random data in transparent huge pages.
echo "bench: $reps checkpoints of $size_name of random data in huge pages ..." >&2
img=$tmp/thp.vpimg
checkpoints thp "$img"
add_row "(c) $size_name random data, MADV_HUGEPAGE"
add_row "  frozen per checkpoint" "$(ms "$frozen")" "$(ms "$fork")" "raw fork() of the same process"
add_row "  vproc_checkpoint() call" "$(ms "$total")" "" "freeze + write + rename"
add_row "  of it in huge pages" "$((huge >> 10)) MiB" "" \
  "AnonHugePages ($(sed 's/.*\[\(.*\)\].*/THP: \1/' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo "no THP"))"
rm -f "$img"

printf '%-42s | %-11s | %-11s | %s\n' measure vproc reference "reference is"
printf '%s\n' "$(printf '%.0s-' {1..42})-+-$(printf '%.0s-' {1..11})-+-$(printf '%.0s-' {1..11})-+-$(printf '%.0s-' {1..30})"
for r in "${rows[@]}"; do
  IFS='|' read -r name a b what <<<"$r"
  printf '%-42s | %11s | %11s | %s\n' "$name" "$a" "$b" "$what"
done
echo "(medians of $reps runs. restore: from just before exec'ing 'vproc restore' to the program's next instruction;"
echo " populated: until the lazy restore's populating threads are gone; --eager copies all memory before the"
echo " program resumes; all but --no-verify check every chunk's hash first; images are read from the page cache."
echo " Throughputs are of writing into the page cache: neither the image writer nor dd calls fsync.)"
