#!/usr/bin/env bash
# Throughput of the migration image transfer (vprocd/image_sender.h and
# image_receiver.h, driven by bench/transfer_bench.cc): SIZE MiB of random
# bytes, page-cached, into a spool directory on the same file system,
#   1. in one process over loopback TCP and over a Unix socketpair;
#   2. as root: between two network namespaces joined by a veth pair, the
#      sender in one and the receiver in the other, as two daemons would;
#   3. as root: a link cut mid-transfer (veth down) must end both sides with
#      a clear error within seconds (TCP_USER_TIMEOUT / the stall timeout, 5 s)
#      and leave no spool file.
# Each figure is the median of RUNS runs, with the receiver splicing
# (socket -> pipe -> file) and copying (recv + pwrite).
#
#   bench/transfer_bench.sh [BUILD_DIR] [SIZE_MIB]     (defaults: build, 1024)
#   RUNS=5 bench/transfer_bench.sh /tmp/b
#   OPTS="--rcvbuf 16777216 --pipe 4096" bench/transfer_bench.sh   (transfer_bench's tuning options)
#   CUT=0 bench/transfer_bench.sh                                   (skip the cut)
set -euo pipefail

build=${1:-build}
size=${2:-1024}
runs=${RUNS:-3}
read -r -a opts <<<"${OPTS:-}"
bin=$build/bench/transfer_bench
[[ -x $bin ]] || { echo "transfer_bench: build it first (make -C $build transfer_bench)" >&2; exit 1; }

work=$(mktemp -d /tmp/vproc-transfer-bench.XXXXXX)
ns_a=vproc-xfer-a-$$
ns_b=vproc-xfer-b-$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

head -c "${size}M" /dev/urandom >"$work/image"
cat "$work/image" >/dev/null  # in the page cache, as a fresh checkpoint image is

# Median MB/s of the lines given on stdin ("... = N MB/s").
median() { awk '{print $(NF-1)}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== ${size} MiB, median of $runs runs, MB/s (10^6 bytes/s)"
for mode in splice copy; do
  flag=(); [[ $mode == copy ]] && flag=(--copy)
  out=$(for _ in $(seq "$runs"); do "$bin" local "$work/image" "$work/spool" "${flag[@]}" "${opts[@]}"; done)
  printf '%-30s %6s\n' "loopback TCP, $mode" "$(grep '^loopback' <<<"$out" | median)"
  printf '%-30s %6s\n' "socketpair, $mode" "$(grep '^socketpair' <<<"$out" | median)"
done

if [[ $(id -u) != 0 ]]; then
  echo "(not root: no veth measurement)"
  exit 0
fi

ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add veth-xa netns "$ns_a" type veth peer name veth-xb netns "$ns_b"
ip -n "$ns_a" addr add 10.231.7.1/24 dev veth-xa
ip -n "$ns_b" addr add 10.231.7.2/24 dev veth-xb
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set veth-xa up
ip -n "$ns_b" link set veth-xb up

# One transfer A -> B; prints the receiver's line.
veth_once() {
  ip netns exec "$ns_b" "$bin" receive 7400 "$work/spool" "$@" >"$work/rx.out" &
  local rx=$!
  pids+=("$rx")
  ip netns exec "$ns_a" "$bin" send 10.231.7.2 7400 "$work/image" "$@" >/dev/null
  wait "$rx"
  grep '^received' "$work/rx.out"
}
for mode in splice copy; do
  flag=(); [[ $mode == copy ]] && flag=(--copy)
  printf '%-30s %6s\n' "veth (MTU 1500), $mode" \
    "$(for _ in $(seq "$runs"); do veth_once "${flag[@]}" "${opts[@]}"; done | median)"
done

[[ ${CUT:-1} == 1 ]] || exit 0

# The cut: a 16 GiB sparse image (still being sent after a second), the link
# cut after a second; each side must give up within seconds, clearly.
echo "== link cut mid-transfer (veth down after 1 s)"
truncate -s 16G "$work/sparse"
ip netns exec "$ns_b" "$bin" receive 7401 "$work/spool" >"$work/rx.out" 2>&1 &
rx=$!
pids+=("$rx")
ip netns exec "$ns_a" "$bin" send 10.231.7.2 7401 "$work/sparse" >"$work/tx.out" 2>&1 &
tx=$!
pids+=("$tx")
sleep 1
ip -n "$ns_a" link set veth-xa down
start=$EPOCHREALTIME
for side in tx rx; do
  if wait "${!side}"; then
    echo "$side: finished?" && cat "$work/$side.out"
  else
    printf '%s gave up %.1f s after the cut: %s\n' "$side" "$(awk "BEGIN {print $EPOCHREALTIME - $start}")" \
      "$(grep -v '^listening' "$work/$side.out")"
  fi
done
left=$(find "$work/spool" -name 'mig-*' | wc -l)
echo "spool files left: $left"
