#!/bin/bash
# Three hosts on this machine (test/lib/cluster.sh), each in its own network,
# pid, uts and mount namespace. Checks the harness itself: real pids collide
# across hosts, /tmp is each host's own while the build tree is seen by all,
# the hosts reach each other over the bridge and host_link_down cuts one off.
# With a vprocd that knows --cluster: `vproc ps` on h1 lists a process started
# under vproc-run on h3 as running on h3, `vproc kill` from h1 kills it, and
# with h2's link down ps on h1 and h3 still answers, naming h2 in a warning.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/cluster.sh"
vp_require_tools
vp_setup_dir
D=$VP_DIR
cluster_need_namespaces || vp_skip "$CLUSTER_NO_NS_REASON"
PY=/usr/bin/python3

daemons=0
if cluster_daemon_supported; then
  daemons=1
  cluster_up 3
else
  vp_note "this vprocd has no --cluster: hosts without daemons"
  cluster_up 3 --no-daemons
fi
vp_note "hosts up: $(grep -v '^#' "$CLUSTER_FILE" | tr '\n' ';')"

# --- pid namespaces: the same real pids on every host --------------------------
for h in h1 h2 h3; do
  vp_expect_eq "$(host_run "$h" hostname)" "$h" "host $h has its own host name"
  host_run "$h" cat /proc/1/cmdline | tr '\0' ' ' >"$D/$h.init"
  vp_expect_contains "$D/$h.init" ".host-init.sh $h " "pid 1 on $h is $h's own init"
done
if [ "$daemons" = 1 ]; then
  # Each daemon is the first process started after the identical set-up.
  for h in h1 h2 h3; do
    host_run "$h" "$VPROC" status >"$D/$h.status" 2>&1 || vp_fail "vproc status on $h: $(cat "$D/$h.status")"
    dpid[$((${h#h}))]=$(sed -n 's/^daemon: *running, pid \([0-9]*\).*/\1/p' "$D/$h.status")
  done
  vp_expect_eq "${dpid[2]}/${dpid[3]}" "${dpid[1]}/${dpid[1]}" "the three daemons have the same real pid, each in its host"
else
  for h in h1 h2 h3; do first[$((${h#h}))]=$(host_run "$h" /bin/sh -c 'echo $$'); done
  vp_expect_eq "${first[2]}/${first[3]}" "${first[1]}/${first[1]}" "the first command on each host gets the same real pid"
fi
host_spawn h1 sleep 1001
p1=$HOST_PID
[ -n "$p1" ] || vp_fail "no pid for the sleep spawned on h1"
host_run h1 cat "/proc/$p1/cmdline" | tr '\0' ' ' >"$D/p1.h1"
vp_expect_contains "$D/p1.h1" "sleep 1001" "h1 sees its sleep as pid $p1"
host_run h2 cat "/proc/$p1/cmdline" 2>/dev/null | tr '\0' ' ' >"$D/p1.h2"
grep -q "sleep 1001" "$D/p1.h2" && vp_fail "h2 sees h1's process as its pid $p1"
vp_note "ok: pid $p1 on h2 is not h1's sleep"
[ "$HOST_PID_OUTER" != "$p1" ] || vp_fail "h1's sleep has the same pid $p1 outside its host"

# --- mounts: private /tmp and /run, shared build tree ---------------------------
host_run h1 /bin/sh -c 'echo from-h1 >/tmp/marker'
vp_expect_eq "$(host_run h1 cat /tmp/marker)" from-h1 "h1 reads back its /tmp/marker"
host_run h2 test -e /tmp/marker && vp_fail "h2 sees h1's /tmp/marker"
[ -e /tmp/marker ] && [ "$(cat /tmp/marker)" = from-h1 ] && vp_fail "h1's /tmp/marker is in the machine's /tmp"
vp_note "ok: /tmp is private to each host"
host_run h2 test -x "$VPROCD" -a -r "$VPROC_LIBRARY" -a -d "$D" || vp_fail "h2 does not see the build tree or the test dir"
vp_note "ok: the build tree and the test dir are visible on h2 at the same paths"
[ "$(host_run h1 stat -c %d:%i /run)" != "$(host_run h2 stat -c %d:%i /run)" ] || vp_fail "h1 and h2 share /run"
vp_note "ok: /run is each host's own"

# --- network: TCP over the bridge, and a pulled cable ---------------------------
a1=$(host_addr h1) a2=$(host_addr h2) a3=$(host_addr h3)
host_spawn h3 "$PY" -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9000))
s.listen(8)
print("listening", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(("%s sees %s\n" % (socket.gethostname(), peer[0])).encode())
    c.close()
' >"$D/server.out" 2>&1
vp_wait_until 10 "the server on h3 listens" grep -q listening "$D/server.out"
connect() { # HOST ADDR: one line from ADDR:9000, or nothing within 2 s
  host_run "$1" timeout 2 /bin/bash -c 'exec 3<>"/dev/tcp/$0/9000" && head -n 1 <&3' "$2" 2>/dev/null
}
vp_expect_eq "$(connect h1 "$a3")" "h3 sees $a1" "h1 connects to h3 at $a3"
vp_expect_eq "$(connect h2 "$a3")" "h3 sees $a2" "h2 connects to h3 at $a3"
host_run h1 timeout 2 /bin/bash -c 'exec 3<>/dev/tcp/127.0.0.1/9000' 2>/dev/null &&
  vp_fail "h1 reaches h3's server on its own 127.0.0.1"
vp_note "ok: h3's server is not on h1's loopback"
host_link_down h3
out=$(connect h1 "$a3")
[ -z "$out" ] || vp_fail "h1 still reaches h3 with h3's link down: $out"
vp_note "ok: with h3's link down, h1's connection to h3 gets no answer within 2 s"
host_link_up h3
vp_expect_eq "$(connect h1 "$a3")" "h3 sees $a1" "h1 reaches h3 again once the link is up"

[ "$daemons" = 1 ] || vp_pass

# --- the cluster's daemons: ps and kill across hosts ----------------------------
host_spawn h3 "$VPROC_RUN" --no-start sleep 1003 >"$D/s3.out" 2>&1
job3=$HOST_JOB pid3=$HOST_PID
host_spawn h1 "$VPROC_RUN" --no-start sleep 1004 >"$D/s1.out" 2>&1
# vpid_on HOST PID: the vpid that HOST's daemon lists for its real pid PID.
vpid_on() {
  host_run "$1" "$VPROC" ps --json --node "$1" 2>/dev/null | "$PY" -c '
import json, sys
print(next((e["vpid"] for e in json.load(sys.stdin) if e["pid"] == int(sys.argv[1])), ""))' "$2"
}
v3=""
for _ in $(seq 100); do
  v3=$(vpid_on h3 "$pid3")
  [ -n "$v3" ] && break
  sleep 0.1
done
[ -n "$v3" ] || vp_fail "h3's daemon does not list vproc-run's sleep (pid $pid3): $(cat "$D/s3.out")"
vp_expect_eq "$((v3 >> 22))" 3 "the vpid $v3 of h3's sleep encodes node index 2"

host_run h1 "$VPROC" ps --json >"$D/ps.h1.json" 2>"$D/ps.h1.err" || vp_fail "vproc ps on h1 failed: $(cat "$D/ps.h1.err")"
"$PY" - "$D/ps.h1.json" "$v3" "$pid3" >"$D/ps.check" 2>&1 <<'PY' || vp_fail "vproc ps on h1: $(cat "$D/ps.check")"
import json, sys
entries = json.load(open(sys.argv[1]))
mine = [e for e in entries if e["vpid"] == int(sys.argv[2])]
assert mine, "vpid %s not listed: %s" % (sys.argv[2], entries)
e = mine[0]
assert e["node"] == "h3" and e["node_index"] == 2, "listed on %s (%s)" % (e["node"], e["node_index"])
assert e["pid"] == int(sys.argv[3]), "real pid %s, not %s" % (e["pid"], sys.argv[3])
assert any(x["node"] == "h1" for x in entries), "h1's own sleep is missing"
PY
vp_note "ok: vproc ps on h1 lists vpid $v3 on node h3 (real pid $pid3 there)"

host_run h1 "$VPROC" kill "$v3" >"$D/kill.out" 2>&1 || vp_fail "vproc kill $v3 from h1: $(cat "$D/kill.out")"
job_gone() { ! kill -0 "$1" 2>/dev/null; }
vp_wait_until 10 "h3's sleep is gone" job_gone "$job3"
rc=0
wait "$job3" || rc=$?
vp_expect_eq "$rc" 143 "h3's sleep died of the SIGTERM sent from h1"

host_spawn h3 "$VPROC_RUN" --no-start sleep 1005 >"$D/s3b.out" 2>&1
pid3b=$HOST_PID
vp_wait_until 10 "h3 lists its second sleep" test -n "$(vpid_on h3 "$pid3b")"
host_link_down h2
for h in h1 h3; do
  start=${EPOCHREALTIME//[.,]/}
  rc=0
  host_run "$h" timeout 10 "$VPROC" ps >"$D/ps.$h.down" 2>"$D/ps.$h.down.err" || rc=$?
  ms=$(((${EPOCHREALTIME//[.,]/} - start) / 1000))
  [ "$rc" = 124 ] && vp_fail "vproc ps on $h hangs with h2 unreachable"
  vp_expect_contains "$D/ps.$h.down.err" h2 "vproc ps on $h warns about h2 (exit $rc, ${ms} ms)"
  grep -q "sleep 1004" "$D/ps.$h.down" && grep -q "sleep 1005" "$D/ps.$h.down" ||
    vp_fail "vproc ps on $h with h2 down misses h1's or h3's processes: $(cat "$D/ps.$h.down" "$D/ps.$h.down.err")"
  vp_note "ok: vproc ps on $h still lists h1's and h3's processes"
done
host_link_up h2
ps_clean() { host_run h1 "$VPROC" ps >"$D/ps.h1.up" 2>"$D/ps.h1.up.err" && ! grep -q h2 "$D/ps.h1.up.err"; }
vp_wait_until 15 "vproc ps on h1 answers without a warning once h2's link is up" ps_clean
vp_note "ok: h2 is back"
vp_pass
