#!/usr/bin/env bash
# A 16-host cluster on this machine (test/lib/cluster.sh: a network, pid and
# mount namespace per host, one vprocd --cluster each) with 2,000 processes
# (`vproc-run sleep`, 125 per host), and prints "measure | vproc | native":
#
#   bench/cluster_bench.sh [BUILD_DIR]     (default: ./build of the repository)
#
#   - `vproc ps` of the whole cluster on h1 (every node asked), median of 5,
#     beside `ps -e` of the machine (which sees all the processes);
#   - kill(vpid, 0) from a program under vproc on h1 for a vpid on h16 (median
#     call: a round trip h1 -> home/current node h16), beside the same program
#     under vproc for a vpid on h1 and natively for a real pid on h1;
#   - how long cluster_up 16 and starting the processes took.
#
# Needs root for the namespaces (else the hosts are daemons on 127.0.0.1).
# HOSTS (default 16), PER_HOST (default 125) and KILLS (default 2000 calls)
# change the sizes. Everything (hosts, processes, namespaces, the temporary
# dir) is gone at the end, whatever happens.
set -uo pipefail
export LC_ALL=C  # $EPOCHREALTIME with a '.'

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$repo/build}" 2>/dev/null && pwd) || { echo "bench/cluster_bench.sh: no build directory '${1:-$repo/build}' (build first: scripts/test.sh)" >&2; exit 2; }
hosts=${HOSTS:-16}
per_host=${PER_HOST:-125}
kills=${KILLS:-2000}
die() { echo "bench/cluster_bench.sh: $*" >&2; exit 1; }
for v in hosts per_host kills; do [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "${v^^}=${!v} is not a count"; done
[ "$hosts" -ge 2 ] || die "HOSTS must be at least 2"
for f in bin/vprocd bin/vproc-run bin/vproc lib/libvproc.so bench/remote_kill_bench; do
  [[ -e $build/$f ]] || { echo "bench/cluster_bench.sh: $build/$f is missing (build the tree first)" >&2; exit 2; }
done
export VPROC_BUILD_DIR=$build VPROC_HELPER_DIR=$build/test/integration
source "$repo/test/lib/cluster.sh"
cluster_daemon_supported || die "$build/bin/vprocd has no --cluster option"
prog=$build/bench/remote_kill_bench
last=h$hosts

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# value NAME: the number after NAME in the program's output on stdin.
value() { awk -v k="$1" '$1 == k { print $2; found = 1 } END { exit !found }'; }

echo "bench: cluster_up $hosts ..." >&2
t0=$(now_ms)
cluster_up "$hosts"
up_ms=$(($(now_ms) - t0))

# All hosts at once, each starting its processes in the background (they are
# reparented to the host's pid 1 when the loop's shell exits).
echo "bench: starting $((hosts * per_host)) processes ..." >&2
t0=$(now_ms)
for h in "${CLUSTER_HOSTS[@]}"; do
  host_spawn "$h" /bin/bash -c 'for i in $(seq "$1"); do "$2" --no-start sleep 100000 </dev/null >/dev/null 2>&1 & done' \
    starter "$per_host" "$VPROC_RUN" >/dev/null 2>&1
done
# vproc-run execs sleep: done when each daemon counts its processes.
counted() { host_run "$1" "$VPROC" status 2>/dev/null | awk '$1 == "processes:" { print $2 }'; }
for h in "${CLUSTER_HOSTS[@]}"; do
  for _ in $(seq 600); do
    [ "$(counted "$h")" = "$per_host" ] && break
    sleep 0.1
  done
  [ "$(counted "$h")" = "$per_host" ] || die "$h's daemon counts $(counted "$h") processes, not $per_host"
done
start_ms=$(($(now_ms) - t0))
total=$((hosts * per_host))

echo "bench: vproc ps (5 times) ..." >&2
# Timed inside h1, so entering the host is not counted.
times=$(host_run h1 /bin/bash -c '
  export LC_ALL=C
  for i in 1 2 3 4 5; do
    t0=${EPOCHREALTIME/./}; vproc ps >/tmp/ps.out 2>/tmp/ps.err || exit 1; t1=${EPOCHREALTIME/./}
    echo $(((t1 - t0) / 1000))
  done
  [ -s /tmp/ps.err ] && cat /tmp/ps.err >&2
  echo "lines $(($(wc -l </tmp/ps.out) - 1))"') || die "vproc ps on h1 failed"
listed=$(value lines <<<"$times")
[ "$listed" = "$total" ] || echo "bench: warning: vproc ps listed $listed processes, not $total" >&2
ps_ms=$(grep -v lines <<<"$times" | median)
native_times=$(for i in 1 2 3 4 5; do
  t0=${EPOCHREALTIME/./}; ps -e >"$CLUSTER_DIR/ps-e.out"; t1=${EPOCHREALTIME/./}
  echo $(((t1 - t0) / 1000))
done)
native_ps_ms=$(median <<<"$native_times")
native_listed=$(($(wc -l <"$CLUSTER_DIR/ps-e.out") - 1))

echo "bench: kill(pid, 0), $kills calls each ..." >&2
# first_on HOST: the vpid and real pid of a process on HOST.
first_on() {
  host_run "$1" "$VPROC" ps --json --node "$1" | /usr/bin/python3 -c '
import json, sys
e = [x for x in json.load(sys.stdin) if x["argv"][:1] == ["sleep"]][0]
print(e["vpid"], e["pid"])'
}
read -r remote_vpid _ < <(first_on "$last") || die "no process on $last"
read -r local_vpid local_pid < <(first_on h1) || die "no process on h1"
remote=$(host_run h1 "$VPROC_RUN" --no-start "$prog" "$remote_vpid" "$kills") || die "remote kill bench failed: $remote"
local_v=$(host_run h1 "$VPROC_RUN" --no-start "$prog" "$local_vpid" "$kills") || die "local vpid kill bench failed"
native=$(host_run h1 "$prog" "$local_pid" "$kills") || die "native kill bench failed"
us() { awk -v ns="$1" 'BEGIN { printf "%.1f us", ns / 1000 }'; }

printf '\n%d hosts (%s mode), %d processes under vproc; cluster_up %d: %.2f s; starting the processes: %.1f s\n\n' \
  "$hosts" "$CLUSTER_MODE" "$total" "$hosts" "$(awk -v m="$up_ms" 'BEGIN { print m / 1000 }')" \
  "$(awk -v m="$start_ms" 'BEGIN { print m / 1000 }')"
printf '%-44s | %-22s | %s\n' measure vproc native
printf '%-44s-+-%-22s-+-%s\n' "$(printf '%.0s-' {1..44})" "$(printf '%.0s-' {1..22})" "$(printf '%.0s-' {1..24})"
printf '%-44s | %-22s | %s\n' "list processes (median of 5)" "vproc ps: $ps_ms ms ($listed)" "ps -e: $native_ps_ms ms ($native_listed)"
printf '%-44s | %-22s | %s\n' "kill(pid, 0), pid on another host (median)" "$(us "$(value kill_median <<<"$remote")")" "-"
printf '%-44s | %-22s | %s\n' "  90th percentile" "$(us "$(value kill_p90 <<<"$remote")")" "-"
printf '%-44s | %-22s | %s\n' "kill(pid, 0), pid on this host (median)" "$(us "$(value kill_median <<<"$local_v")")" "$(us "$(value kill_median <<<"$native")")"
