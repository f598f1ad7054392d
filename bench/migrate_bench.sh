#!/usr/bin/env bash
# Live migration of a process with MIB (default 1024) MiB of touched random
# data between two hosts of this machine (test/lib/cluster.sh: each its own
# network, pid and mount namespace with its own vprocd, joined by veth), and
# prints per migration the image size, the time the process was frozen
# (checkpoint signal to the commit on the target), the total (the request to
# the result, including the files check) and the image's rate over the frozen
# time:
#
#   bench/migrate_bench.sh [BUILD_DIR]     (default: ./build of the repository)
#   MIB=256 REPS=4 bench/migrate_bench.sh /tmp/b
#
# The process is python3 holding os.urandom(MIB MiB); after the migrations it
# prints the SHA-1 of that memory again, which must equal the first one (the
# script says so). REPS (default 2) migrations alternate h1 -> h2 -> h1 ...
# Only figures: nothing about timing is asserted. Needs root (namespaces).
set -uo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$repo/build}" 2>/dev/null && pwd) || { echo "bench/migrate_bench.sh: no build directory '${1:-$repo/build}' (build first: scripts/test.sh)" >&2; exit 2; }
mib=${MIB:-1024}
reps=${REPS:-2}
die() { echo "bench/migrate_bench.sh: $*" >&2; exit 1; }
for v in mib reps; do [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "${v^^}=${!v} is not a count"; done
for f in bin/vprocd bin/vproc-run bin/vproc bin/vproc-shadow bin/vproc-restorer lib/libvproc.so; do
  [[ -e $build/$f ]] || die "$build/$f is missing (build the tree first)"
done
export VPROC_BUILD_DIR=$build VPROC_HELPER_DIR=$build/test/integration
source "$repo/test/lib/cluster.sh"
cluster_need_namespaces || die "needs namespaces: $CLUSTER_NO_NS_REASON"
cluster_daemon_supported || die "$build/bin/vprocd has no --cluster option"

work=$(mktemp -d /tmp/vproc-migrate-bench.XXXXXX)
trap 'cluster_down >/dev/null 2>&1; rm -rf "$work"' EXIT
export CLUSTER_KEEP=$work  # the process's stdout/stderr files: every host must see them
cluster_up 2

echo "bench: filling $mib MiB in a python3 on h1 ..." >&2
host_spawn h1 "$VPROC_RUN" /usr/bin/python3 -c '
import hashlib, os, signal, sys, time
data = os.urandom(int(sys.argv[1]) << 20)
digest = lambda: hashlib.sha1(data).hexdigest()
print("ready", digest(), flush=True)
signal.signal(signal.SIGUSR1, lambda *a: print("again", digest(), flush=True))
while True:
    time.sleep(1)
' "$mib" >"$work/out" 2>"$work/err" 251>&-
job=$HOST_JOB
for _ in $(seq 600); do grep -q ready "$work/out" && break; sleep 0.1; done
grep -q ready "$work/out" || die "the python3 process did not start: $(cat "$work/err")"
V=$(host_run h1 "$VPROC" ps 2>/dev/null | awk '/python3/ {print $1; exit}')
[ -n "$V" ] || die "no vpid for the process"

printf '%-10s | %10s | %10s | %10s | %s\n' migration image frozen total "rate (image/frozen)"
printf -- '-----------+------------+------------+------------+--------------------\n'
from=h1
for i in $(seq "$reps"); do
  to=$([ "$from" = h1 ] && echo h2 || echo h1)
  line=$(host_run h1 "$VPROC" migrate "$V" "$to" 2>&1) || die "migration $from -> $to failed: $line"
  # "vpid V: h1 → h2, 1.0 GiB, frozen 1.32 s, total 1.41 s"
  read -r size frozen total < <(awk -F', ' '{
      s = $2; f = $3; t = $4; sub(/^frozen /, "", f); sub(/^total /, "", t); print s "|" f "|" t }' <<<"$line" | tr ' |' '_ ')
  rate=$(awk -v s="$size" -v f="$frozen" 'function bytes(x, n, u) { n = x + 0; u = x; sub(/^[0-9.]+_?/, "", u);
      return n * (u == "GiB" ? 2^30 : u == "MiB" ? 2^20 : u == "KiB" ? 2^10 : 1) }
    function secs(x, n, u) { n = x + 0; u = x; sub(/^[0-9.]+_?/, "", u); return u == "ms" ? n / 1000 : n }
    BEGIN { t = secs(f); if (t > 0) printf "%.2f GB/s", bytes(s) / t / 1e9; else print "-" }')
  printf '%-10s | %10s | %10s | %10s | %s\n' "$from->$to" "${size//_/ }" "${frozen//_/ }" "${total//_/ }" "$rate"
  from=$to
done
host_run h1 "$VPROC" kill -USR1 "$V" >/dev/null 2>&1
for _ in $(seq 100); do grep -q again "$work/out" && break; sleep 0.1; done
first=$(awk '/^ready/ {print $2}' "$work/out")
again=$(awk '/^again/ {print $2}' "$work/out")
if [ -n "$again" ] && [ "$first" = "$again" ]; then
  echo "memory after the migrations: SHA-1 unchanged ($again)"
else
  echo "memory after the migrations: SHA-1 $first before, '${again:-none}' after: DIFFERENT" >&2
fi
host_run h1 "$VPROC" kill -TERM "$V" >/dev/null 2>&1
wait "$job" 2>/dev/null || true  # ended by that SIGTERM (143): not the script's failure
