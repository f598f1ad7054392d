#!/usr/bin/env bash
# A narrated tour of vproc on one node, unattended (no stdin needed):
#   1. build;  2. start a node daemon on a private socket;  3. run programs under
#   vproc-run and watch them with `vproc ps`;  4. signal one by virtual PID;
#   5. checkpoint the running program, look inside the image, kill it and
#   restore it: same vpid, it carries on counting;  6. a bash whose $$ and $!
#   are virtual PIDs (after 5b: a two-node cluster on 127.0.0.1, where the
#   ticker migrates alpha -> beta -> alpha -> beta while it runs);  7. stop the
#   daemons and clean up.
#
#   sudo ./scripts/demo.sh        (root only to install missing packages)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/build

if [[ -t 1 ]]; then bold=$'\033[1m' dim=$'\033[2m' plain=$'\033[0m'; else bold= dim= plain=; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$plain"; "$@"; }

source "$repo/scripts/lib/daemon.sh"   # stop_daemon, wait_gone

# Descriptors inherited from whatever started us (a CI runner's pipes, say)
# would be inherited by the demo's programs too, and a checkpoint refuses a
# pipe to another process: the demo's programs get only stdin, stdout, stderr.
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  [[ $fd -gt 2 ]] && eval "exec $fd>&-" 2>/dev/null || true
done
tmp=$(mktemp -d /tmp/vproc-demo.XXXXXX)
ticker_pid=
cleanup() {
  [[ -n $ticker_pid ]] && kill "$ticker_pid" 2>/dev/null || true
  stop_daemon "$tmp/vprocd.pid"
  stop_daemon "$tmp/alpha.pid"
  stop_daemon "$tmp/beta.pid"
  rm -rf "$tmp"
}
trap cleanup EXIT

say "Installing missing packages and building vproc in $build"
"$repo/scripts/install-deps.sh"
if ! { cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
       cmake --build "$build" -j2 --target vprocd vproc-run vproc_cli vproc vproc-restorer vproc-shadow vproc_migrate family ticker whoami; } \
     >"$tmp/build.log" 2>&1 </dev/null; then
  tail -n 40 "$tmp/build.log"
  echo "demo: the build failed (the last lines of its log are above)" >&2
  exit 1
fi
export PATH=$build/bin:$build/examples:$PATH

say "Starting a node daemon on a private socket"
export VPROC_SOCKET=$tmp/vprocd.sock   # every tool and program below uses this daemon
show vprocd --socket "$VPROC_SOCKET" --node demo --pidfile "$tmp/vprocd.pid"
show vproc status

say "A process tree under vproc-run: every pid it sees is virtual (>= 4194304)"
show vproc-run family

say "The C API (whoami links -lvproc)"
show vproc-run whoami

say "A long-running program in the background"
vproc-run ticker -i 500 >"$tmp/ticker.out" &
ticker_pid=$!    # vproc-run execs the program: this is the ticker's real pid
sleep 1.2
show vproc ps
vpid=$(vproc ps | awk -v p="$ticker_pid" '$3 == p { print $1 }')
[[ -n $vpid ]] || { echo "demo: the ticker (pid $ticker_pid) is not in 'vproc ps'" >&2; exit 1; }
echo "The ticker's virtual PID is $vpid (real PID $ticker_pid)."
show vproc ps --json

say "Signals by virtual PID"
show vproc kill -USR1 "$vpid"
sleep 0.3
show tail -n 3 "$tmp/ticker.out"
echo "(The sender pid is vprocd's real pid: the daemon delivers signals that 'vproc kill' asks for.)"

say "Checkpoint: the ticker writes an image of itself and keeps running"
show vproc checkpoint -o "$tmp/ticker.vpimg" "$vpid"
sleep 0.6
show tail -n 2 "$tmp/ticker.out"

say "What the image holds: memory map, files, and where the thread stood"
show vproc inspect "$tmp/ticker.vpimg"

say "Kill it, and bring it back from the image"
show vproc checkpoint --stop -o "$tmp/ticker.vpimg" "$vpid"
echo "(--stop: the ticker stopped right after the snapshot, so the image is its continuation.)"
{ kill -KILL "$ticker_pid"; wait "$ticker_pid"; } 2>/dev/null || true   # (no "Killed" notice)
show tail -n 1 "$tmp/ticker.out"
echo "$ vproc restore $tmp/ticker.vpimg >> $tmp/ticker.out &"
vproc restore "$tmp/ticker.vpimg" >>"$tmp/ticker.out" 2>&1 &
ticker_pid=$!    # vproc restore execs the restorer: this pid is the restored ticker
sleep 1.2
show vproc ps
echo "Same vpid $vpid, new real PID $ticker_pid; the count goes on where it stopped:"
show tail -n 3 "$tmp/ticker.out"

show vproc kill "$vpid"
status=0
wait "$ticker_pid" || status=$?
ticker_pid=
echo "The ticker ended with status $status (128 + SIGTERM's 15)."
show tail -n 2 "$tmp/ticker.out"
show vproc ps

say "A two-node cluster on this machine: alpha and beta, on 127.0.0.1"
port=$((20000 + RANDOM % 20000))
head -c 32 /dev/urandom >"$tmp/cluster.key"
chmod 600 "$tmp/cluster.key"
printf 'secret cluster.key\nalpha 127.0.0.1:%d\nbeta 127.0.0.1:%d\n' "$port" $((port + 1)) >"$tmp/cluster"
show cat "$tmp/cluster"
mkdir -p "$tmp/alpha" "$tmp/beta"
show vprocd --cluster "$tmp/cluster" --node alpha --socket "$tmp/alpha/vprocd.sock" --pidfile "$tmp/alpha.pid"
show vprocd --cluster "$tmp/cluster" --node beta --socket "$tmp/beta/vprocd.sock" --pidfile "$tmp/beta.pid"
export VPROC_SOCKET=$tmp/alpha/vprocd.sock   # from here on the tools talk to alpha
vproc-run ticker -i 300 >"$tmp/migrating.out" &
ticker_pid=$!
sleep 1
show vproc ps
vpid=$(vproc ps | awk -v p="$ticker_pid" '$3 == p { print $1 }')
[[ -n $vpid ]] || { echo "demo: the ticker (pid $ticker_pid) is not in 'vproc ps'" >&2; exit 1; }

say "Migrate it while it runs: alpha -> beta; its vpid stays $vpid"
show migrate "$vpid" beta
show vproc ps
echo "(Its output still arrives here: the process it was stays on alpha as its shadow and relays it.)"
sleep 1
show tail -n 3 "$tmp/migrating.out"
show migrate "$vpid" alpha
show vproc ps --node alpha
show migrate "$vpid" beta
sleep 1
show tail -n 2 "$tmp/migrating.out"
show vproc kill "$vpid"
status=0
wait "$ticker_pid" || status=$?
ticker_pid=
echo "Killed on beta; its parent here saw status $status (128 + SIGTERM's 15), as without migration."
show tail -n 2 "$tmp/migrating.out"
stop_daemon "$tmp/alpha.pid"
stop_daemon "$tmp/beta.pid"
export VPROC_SOCKET=$tmp/vprocd.sock

say "A bash under vproc-run: \$\$ and \$! are virtual PIDs, and kill/wait take them"
cat >"$tmp/job.sh" <<'SCRIPT'
echo "bash: \$\$ = $$, \$PPID = $PPID"
sleep 30 &
echo "bash: started sleep in the background, \$! = $!"
vproc ps
kill $!
wait $!
echo "bash: wait \$! -> status $? (128 + SIGTERM)"
SCRIPT
show cat "$tmp/job.sh"
show vproc-run bash "$tmp/job.sh"

say "Stopping the daemon"
daemon_pid=$(cat "$tmp/vprocd.pid")
show kill "$daemon_pid"
wait_gone "$daemon_pid" || true
show vproc status || echo "(vproc status exits $? when no daemon answers)"
say "Done"
