#!/bin/bash
# Restore in another pid and mount namespace, as if on another machine with
# the same files: a python3 program is checkpointed under our daemon, killed,
# and restored by `vproc restore` inside `unshare --pid --mount --fork` with a
# private tmpfs on /run, its own /proc and its own vprocd (node index 0, like
# ours) on /run/vproc/vprocd.sock. The image and the program's files are under
# our temp dir, seen from both. getpid() stays the vpid (also /proc/self/stat
# as the program reads it), while the kernel's pid changes: the one of
# `vproc restore` inside the namespace.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
PROG=$HERE/programs/ns_identity.py
command -v unshare >/dev/null || vp_skip "unshare is not installed"
unshare --pid --mount --fork --mount-proc --kill-child /bin/sh -c 'mount -t tmpfs tmpfs /run' 2>"$D/unshare.err" ||
  vp_skip "cannot create pid and mount namespaces here: $(cat "$D/unshare.err")"

vp_start_bg "$D/run.out" "$D/run.out.err" /usr/bin/python3 "$PROG" "$D/go"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_wait_lines "$D/run.out" 1 20 "ns_identity" "$pid"
vp_checkpoint_stop "$vpid" "$D/ns.vpimg" "$pid"
vp_kill_reap "$pid"

# Inside the namespaces: a daemon of their own, the restore, and that
# daemon's view of the restored process; then it is let finish.
vp_restore_in_namespaces "$D/ns.vpimg" "$vpid" "$D/run.out" "$D/run.out.err" "$D/go"
vp_expect_rc "$(cat "$D/ns.rc")" 0 "vproc restore inside the namespaces" "$D/run.out.err"

inner_pid=$(cat "$D/ns.restored_pid")
/usr/bin/python3 - "$D/ns.ps.json" "$vpid" "$inner_pid" >"$D/ps.check" 2>&1 <<'PY' || vp_fail "the namespace daemon's vproc ps --json: $(cat "$D/ps.check")"
import json, sys
path, vpid, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
entries = [e for e in json.load(open(path)) if e["vpid"] == vpid]
assert entries, "vpid %d not listed: %s" % (vpid, open(path).read()[:500])
assert entries[0]["pid"] == pid, "vpid %d has real pid %r, not %d" % (vpid, entries[0]["pid"], pid)
PY
vp_note "ok: the namespace's daemon lists vpid $vpid with real pid $inner_pid"

read -r tag1 getpid1 kernel1 stat1 < <(sed -n 1p "$D/run.out")
read -r tag2 getpid2 kernel2 stat2 < <(sed -n 2p "$D/run.out")
vp_expect_eq "$tag1/$tag2" "before/after" "the program printed its identity before and after"
vp_expect_eq "$getpid1" "$vpid" "getpid() before the checkpoint is the vpid"
vp_expect_eq "$getpid2" "$vpid" "getpid() after the restore in the namespace is the same vpid"
vp_expect_eq "$stat1/$stat2" "$vpid/$vpid" "/proc/self/stat as the program reads it names the vpid, before and after"
vp_expect_eq "$kernel1" "$pid" "the kernel's pid before is the one vproc-run had"
vp_expect_eq "$kernel2" "$inner_pid" "the kernel's pid after is the one of vproc restore in the namespace"
[ "$kernel1" != "$kernel2" ] || vp_fail "the kernel's pid did not change ($kernel1)"
vp_note "ok: kernel pid $kernel1 -> $kernel2, vpid $vpid throughout"
vp_pass
