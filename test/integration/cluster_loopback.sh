#!/bin/bash
# A cluster of three daemons on 127.0.0.1 (nodes alpha, beta, gamma on their
# own ports, sockets and tables; one cluster file), without root or namespaces:
#  - `vproc ps` on any node lists the processes of all three, `--node` one node,
#    `--json` too; `vproc status` shows every node reachable;
#  - `vproc kill` of a vpid on another node works, as another uid it is EPERM,
#    an unknown vpid is ESRCH; the same from a program under vproc (kill(2)
#    with 0 and SIGTERM, sigqueue with its value, killpg of a group);
#  - a node with another secret is refused (logged on both sides, its ps names
#    the others unreachable); a node that is down: ps lists the others and warns.
# Also prints (does not check) the time of a remote kill(vpid, 0) and of a
# cluster-wide ps.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_require_tools
vp_setup_dir
D=$VP_DIR
PROBE="$VPROC_HELPER_DIR/kill_probe"
CPROBE="$VPROC_HELPER_DIR/cluster_probe"
[ -x "$PROBE" ] && [ -x "$CPROBE" ] || vp_fail "missing helpers in $VPROC_HELPER_DIR (build integration_helpers)"
"$VPROCD" --help | grep -q -- '--cluster' || vp_fail "this vprocd has no --cluster"

NODES=(alpha beta gamma)
declare -A DAEMON=()

# Every process under vproc on any node is killed at the end, like the
# harness does for its own socket.
cluster_cleanup() {
  local rc=$? n f p
  {
    for n in "${NODES[@]}"; do
      for f in $(grep -lzxF "VPROC_SOCKET=$D/$n/vprocd.sock" /proc/[0-9]*/environ); do
        p=${f#/proc/}
        p=${p%/environ}
        [ "$p" != "$$" ] && kill -KILL "$p"
      done
    done
    for p in "${VP_PIDS[@]+"${VP_PIDS[@]}"}"; do
      kill -KILL "$p"
      wait "$p"  # reaped here, where bash's "Killed" notices are silenced
    done
  } 2>/dev/null
  (exit $rc)
  vp_cleanup
}
trap cluster_cleanup EXIT

free_ports() {
  /usr/bin/python3 -c '
import socket
socks = []
for _ in range(3):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))'
}
read -r P1 P2 P3 <<<"$(free_ports)"
head -c 32 /dev/urandom >"$D/cluster.key"
chmod 600 "$D/cluster.key"
cat >"$D/cluster" <<EOF
# three nodes on this host
secret cluster.key
alpha 127.0.0.1:$P1
beta  127.0.0.1:$P2
gamma 127.0.0.1:$P3
EOF

# on NODE CMD...: CMD with VPROC_SOCKET naming NODE's daemon.
on() {
  local n=$1
  shift
  VPROC_SOCKET="$D/$n/vprocd.sock" timeout 20 "$@"
}

start_node() {  # start_node NAME [CLUSTER_FILE]
  local n=$1 file=${2:-$D/cluster}
  mkdir -p "$D/$n"
  "$VPROCD" --foreground --cluster "$file" --node "$n" --socket "$D/$n/vprocd.sock" --log "$D/$n/vprocd.log" \
    --idle-exit 120 >>"$D/$n/vprocd.out" 2>&1 </dev/null &
  DAEMON[$n]=$!
  vp_track_pid "${DAEMON[$n]}"
  vp_wait_until 10 "node $n's daemon answers" node_answers "$n"
}

node_answers() { on "$1" "$VPROC" status >/dev/null 2>&1; }

stop_node() {
  kill -TERM "${DAEMON[$1]}"
  wait "${DAEMON[$1]}" 2>/dev/null
}

for n in "${NODES[@]}"; do start_node "$n"; done
on alpha "$VPROC" status >"$D/status.txt" || vp_fail "vproc status on alpha: $(cat "$D/status.txt")"
vp_expect_contains "$D/status.txt" "cluster:   3 nodes" "vproc status names the cluster"
[ "$(grep -cE '  (this node|reachable), 0 processes' "$D/status.txt")" = 3 ] ||
  vp_fail "vproc status: not every node reachable: $(cat "$D/status.txt")"
vp_note "ok: vproc status shows three reachable nodes"

# A sleeper on each node (each leads its own group, for killpg).
declare -A JOB=() VPID=()
for n in "${NODES[@]}"; do
  VPROC_SOCKET="$D/$n/vprocd.sock" setsid "$VPROC_RUN" --no-start sh -c "echo \$\$ > $D/$n.pid; exec sleep 60" \
    >"$D/$n.out" 2>&1 </dev/null &
  JOB[$n]=$!
  vp_track_pid "${JOB[$n]}"
done
for n in "${NODES[@]}"; do
  vp_wait_until 10 "the sleeper on $n recorded its vpid" vp_file_ready "$D/$n.pid"
  VPID[$n]=$(cat "$D/$n.pid")
  vp_expect_vpid "${VPID[$n]}" "the sleeper on $n"
done
[ $((VPID[beta] >> 22)) = 2 ] || vp_fail "beta's vpid ${VPID[beta]} does not encode node index 1"

# --- ps -----------------------------------------------------------------------
for from in "${NODES[@]}"; do
  on "$from" "$VPROC" ps >"$D/ps.$from" 2>"$D/ps.$from.err" || vp_fail "vproc ps on $from: $(cat "$D/ps.$from.err")"
  [ -s "$D/ps.$from.err" ] && vp_fail "vproc ps on $from warned: $(cat "$D/ps.$from.err")"
  for n in "${NODES[@]}"; do
    row=$(awk -v v="${VPID[$n]}" '$1 == v' "$D/ps.$from")
    [ "$(echo "$row" | awk '{print $2, $NF}')" = "$n 60" ] ||
      vp_fail "vproc ps on $from: no row 'VPID $n ... sleep 60' for ${VPID[$n]}: $(cat "$D/ps.$from")"
  done
done
vp_note "ok: vproc ps on each node lists the sleepers of all three, with their node names"
on alpha "$VPROC" ps --node beta >"$D/ps.node" || vp_fail "vproc ps --node beta failed"
vp_expect_eq "$(awk 'NR > 1 {print $1, $2}' "$D/ps.node")" "${VPID[beta]} beta" "vproc ps --node beta on alpha"
rc=0
on alpha "$VPROC" ps --node delta >/dev/null 2>"$D/ps.delta.err" || rc=$?
vp_expect_eq "$rc" 2 "vproc ps --node delta: exit status"
vp_expect_contains "$D/ps.delta.err" "no node 'delta' in the cluster" "vproc ps --node delta says why"
on gamma "$VPROC" ps --json >"$D/ps.json" || vp_fail "vproc ps --json on gamma failed"
/usr/bin/python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
got = sorted((x["node"], x["node_index"], x["vpid"]) for x in e)
want = sorted(zip(["alpha", "beta", "gamma"], [0, 1, 2], map(int, sys.argv[2:])))
sys.exit(0 if got == want else "got %s, want %s" % (got, want))' \
  "$D/ps.json" "${VPID[alpha]}" "${VPID[beta]}" "${VPID[gamma]}" ||
  vp_fail "vproc ps --json on gamma: $(cat "$D/ps.json")"
vp_note "ok: vproc ps --json on gamma lists the three with node and node_index"

# --- vproc kill across nodes ----------------------------------------------------
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
on alpha "$VPROC" kill -0 "${VPID[beta]}" || vp_fail "vproc kill -0 of beta's sleeper from alpha failed"
vp_note "ok: vproc kill -0 of a vpid on another node"
if [ "$(id -u)" = 0 ]; then
  rc=0
  on alpha "${AS_NOBODY[@]}" "$VPROC" kill -TERM "${VPID[beta]}" 2>"$D/kill.nobody" || rc=$?
  vp_expect_eq "$rc" 1 "vproc kill as nobody of root's process on another node: exit status"
  vp_expect_contains "$D/kill.nobody" "Operation not permitted" "vproc kill as nobody across nodes: EPERM"
  rc=0
  out=$(on alpha "${AS_NOBODY[@]}" "$VPROC_RUN" --no-start "$PROBE" "${VPID[beta]}" 15) || rc=$?
  vp_expect_eq "$out/$rc" "kill: EPERM/1" "kill(2) as nobody under vproc on alpha of root's process on beta"
  vp_alive "${JOB[beta]}" || vp_fail "beta's sleeper died although nobody's signals were refused"
else
  vp_note "not root: the EPERM checks (which switch to nobody) are skipped"
fi
rc=0
on gamma "$VPROC" kill -0 $((VPID[beta] + 1000)) 2>"$D/kill.unknown" || rc=$?
vp_expect_eq "$rc" 1 "vproc kill of an unknown vpid of beta: exit status"
vp_expect_contains "$D/kill.unknown" "No such process" "vproc kill of an unknown vpid of beta: ESRCH"

# --- kill(2), sigqueue(3), killpg from a program under vproc --------------------
out=$(on alpha "$VPROC_RUN" --no-start "$PROBE" "${VPID[beta]}" 0) || vp_fail "kill(beta's vpid, 0) on alpha: $out"
vp_expect_eq "$out" "kill: ok" "kill(vpid on beta, 0) from a program under vproc on alpha"
out=$(on alpha "$VPROC_RUN" --no-start "$PROBE" $((VPID[beta] + 1000)) 0)
vp_expect_eq "$out" "kill: ESRCH" "kill(unknown vpid of beta, 0) from alpha"
out=$(on alpha "$VPROC_RUN" --no-start /usr/bin/python3 -c \
  'import os, sys; os.kill(int(sys.argv[1]), 0); print("python: ok")' "${VPID[gamma]}" 2>&1) ||
  vp_fail "python3 os.kill of gamma's vpid: $out"
vp_expect_eq "$out" "python: ok" "python3's os.kill(vpid on gamma, 0) under vproc on alpha"

# sigqueue carries its value across nodes.
VPROC_SOCKET="$D/beta/vprocd.sock" "$VPROC_RUN" --no-start "$CPROBE" wait "$D/q.pid" >"$D/q.out" 2>&1 </dev/null &
q_job=$!
vp_track_pid "$q_job"
vp_wait_until 10 "the sigqueue target on beta recorded its vpid" vp_file_ready "$D/q.pid"
out=$(on alpha "$VPROC_RUN" --no-start "$CPROBE" queue "$(cat "$D/q.pid")" 4242) || vp_fail "sigqueue from alpha: $out"
vp_expect_eq "$out" "sigqueue: ok" "sigqueue(vpid on beta, SIGUSR1, 4242) from alpha"
wait "$q_job"
vp_expect_eq "$(cat "$D/q.out")" "got SIGUSR1 code=SI_QUEUE value=4242" "the target on beta got SI_QUEUE and the value"

out=$(on alpha "$VPROC_RUN" --no-start "$PROBE" "${VPID[beta]}" 15)
vp_expect_eq "$out" "kill: ok" "kill(vpid on beta, SIGTERM) from alpha"
wait "${JOB[beta]}"
vp_expect_eq "$?" 143 "beta's sleeper died of SIGTERM sent from alpha"
on beta "$VPROC" kill -- -"${VPID[gamma]}" || vp_fail "vproc kill -- -VPID (gamma's group) from beta failed"
wait "${JOB[gamma]}"
vp_expect_eq "$?" 143 "gamma's sleeper died of killpg from beta"

# --- timings (printed, not checked) ---------------------------------------------
VPROC_SOCKET="$D/beta/vprocd.sock" setsid "$VPROC_RUN" --no-start sh -c "echo \$\$ > $D/b2.pid; exec sleep 60" \
  >"$D/b2.out" 2>&1 </dev/null &
b2_job=$!
vp_track_pid "$b2_job"
vp_wait_until 10 "a second sleeper on beta recorded its vpid" vp_file_ready "$D/b2.pid"
b2=$(cat "$D/b2.pid")
out=$(on alpha "$VPROC_RUN" --no-start "$CPROBE" bench "$b2" 500) || vp_fail "remote kill(vpid, 0) loop: $out"
vp_note "timing: remote kill(vpid, 0) from alpha to beta: $out"
t0=$(date +%s%N)
for i in $(seq 20); do on alpha "$VPROC" ps >/dev/null || vp_fail "vproc ps failed"; done
vp_note "timing: vproc ps of the 3-node cluster: $(( ($(date +%s%N) - t0) / 20000 )) us per run (tool start included)"

# --- a node with another secret ---------------------------------------------------
stop_node gamma
mkdir -p "$D/bad"
head -c 32 /dev/urandom >"$D/bad/cluster.key"
chmod 600 "$D/bad/cluster.key"
sed 's/^secret .*/secret cluster.key/' "$D/cluster" >"$D/bad/cluster"
start_node gamma "$D/bad/cluster"
on gamma "$VPROC" ps >"$D/ps.bad" 2>"$D/ps.bad.err" || vp_fail "vproc ps on the misconfigured gamma failed"
vp_expect_contains "$D/ps.bad.err" "warning: node alpha (127.0.0.1:$P1): authentication failed" \
  "gamma with another secret: its ps names alpha unreachable"
vp_expect_contains "$D/ps.bad.err" "warning: node beta (127.0.0.1:$P2): authentication failed" \
  "gamma with another secret: its ps names beta unreachable"
on alpha "$VPROC" ps >"$D/ps.a" 2>"$D/ps.a.err" || vp_fail "vproc ps on alpha failed"
vp_expect_contains "$D/ps.a.err" "warning: node gamma (127.0.0.1:$P3): authentication failed" \
  "alpha warns that gamma failed authentication"
[ -n "$(awk -v v="$b2" '$1 == v' "$D/ps.a")" ] || vp_fail "alpha's ps lost beta's process: $(cat "$D/ps.a")"
vp_expect_contains "$D/alpha/vprocd.log" "authentication failed" "alpha's log names the failed authentication"
vp_expect_contains "$D/gamma/vprocd.log" "authentication failed" "gamma's log names the failed authentication"

# --- a node that is down ----------------------------------------------------------
stop_node gamma
# (Until alpha's backoff after the failed authentication ends, its ps repeats
# that failure rather than try again.)
ps_says_refused() {
  on alpha "$VPROC" ps >"$D/ps.down" 2>"$D/ps.down.err" &&
    grep -qF "vproc ps: warning: node gamma (127.0.0.1:$P3) unreachable: Connection refused" "$D/ps.down.err"
}
vp_wait_until 10 "vproc ps with gamma down warns that it is unreachable" ps_says_refused
vp_note "ok: vproc ps with gamma down exits 0 and warns: $(cat "$D/ps.down.err")"
[ -n "$(awk -v v="$b2" '$1 == v && $2 == "beta"' "$D/ps.down")" ] &&
  [ -n "$(awk -v v="${VPID[alpha]}" '$1 == v && $2 == "alpha"' "$D/ps.down")" ] ||
  vp_fail "vproc ps with gamma down: alpha's and beta's processes missing: $(cat "$D/ps.down")"
vp_note "ok: vproc ps with gamma down still lists alpha's and beta's processes"
on beta "$VPROC" status >"$D/status.down" || vp_fail "vproc status on beta failed"
grep -qE "^ +2 +gamma +127\.0\.0\.1:$P3 +unreachable: Connection refused$" "$D/status.down" ||
  vp_fail "vproc status on beta does not show gamma unreachable: $(cat "$D/status.down")"
vp_note "ok: vproc status on beta shows gamma unreachable"
vp_pass
