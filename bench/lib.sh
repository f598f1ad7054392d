# Sourced by the benchmark scripts after they set $build and $tmp: a private
# node daemon in $tmp, and the little functions they share.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/daemon.sh"  # stop_daemon, wait_gone

# bench_start_daemon: a daemon of our own on $tmp/vprocd.sock (stop it with
# `stop_daemon "$tmp/vprocd.pid"`); every vproc tool and program below uses it.
bench_start_daemon() {
  export VPROC_SOCKET=$tmp/vprocd.sock
  "$build/bin/vprocd" --socket "$VPROC_SOCKET" --pidfile "$tmp/vprocd.pid" --node bench
}

now_ns() { local t=$EPOCHREALTIME; echo "${t/./}000"; }
# value NAME: the number after NAME in a program's output on stdin.
value() { awk -v k="$1" '$1 == k { print $2; found = 1 } END { exit !found }'; }
ms() { awk -v n="$1" 'BEGIN { printf "%.1f ms", n / 1e6 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# frozen_ns IMAGE: how long the checkpoint froze the process, from the image.
frozen_ns() { "$build/bin/vproc" inspect --json "$1" | grep -o '"frozen_ns": *[0-9]*' | grep -o '[0-9]*$'; }
