#!/bin/bash
# Migration between real test hosts (test/lib/cluster.sh: each host its own
# network, pid and mount namespace, with its own vprocd). A python3 workload
# started under vproc-run on h1 is migrated h1 -> h2 -> h1 -> h3 while it runs:
# its vpid never changes, its output (forwarded through the shadow on h1) is
# byte-identical to a native run, and its parent gets its exit status 7. Then
# the clear errors: an unknown host, the node it is on, an unknown vpid, and a
# process that exits with SIGTERM while migrated (the parent sees the signal).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/cluster.sh"
cluster_test_start
PY=/usr/bin/python3
PROG=$HERE/programs/mig_ticker.py

"$PY" "$PROG" 40 >"$D/native.out"
vp_expect_eq "$?" 7 "the native run exits 7"

cluster_up 3

vpid_of() {  # host, pattern -> the vpid `vproc ps` shows on that host
  host_run "$1" "$VPROC" ps 2>/dev/null | awk -v p="$2" '$0 ~ p {print $1; exit}'
}
migrate() {  # vpid host
  host_run h1 "$VPROC" migrate "$1" "$2" >"$D/migrate.out" 2>&1
  local rc=$?
  vp_note "migrate $1 $2: $(cat "$D/migrate.out") (rc $rc)"
  return $rc
}

host_spawn h1 "$VPROC_RUN" "$PY" "$PROG" 40 >"$D/run.out" 2>"$D/run.err" 251>&-
job=$HOST_JOB
vp_wait_until 10 "the workload runs on h1" grep -q "tick 2 " "$D/run.out"
V=$(vpid_of h1 mig_ticker)
[ -n "$V" ] || vp_fail "no vpid for the workload on h1"
for to in h2 h1 h3; do
  migrate "$V" "$to" || vp_fail "migration of $V to $to failed: $(cat "$D/migrate.out")"
  vp_expect_contains "$D/migrate.out" "vpid $V: " "the result line names vpid $V"
  where=$(host_run h2 "$VPROC" ps 2>/dev/null | awk -v v="$V" '$1 == v {print $2}')
  vp_expect_eq "$where" "$to" "vproc ps on h2 shows vpid $V on $to"
  sleep 0.5
done

# Errors: clear, and the process is untouched.
migrate "$V" h3 && vp_fail "migrating to the node it runs on succeeded"
vp_expect_contains "$D/migrate.out" "already runs on h3" "migrating to its own node is refused"
migrate "$V" nosuchhost && vp_fail "migrating to an unknown host succeeded"
vp_expect_contains "$D/migrate.out" "unknown host 'nosuchhost'" "an unknown host is named"
migrate 4194999 h2 && vp_fail "migrating an unknown vpid succeeded"
vp_expect_contains "$D/migrate.out" "no such vpid" "an unknown vpid is refused"

wait "$job"
rc=$?
vp_expect_eq "$rc" 7 "the parent gets the migrated process's exit status"
cmp -s "$D/native.out" "$D/run.out" || { diff "$D/native.out" "$D/run.out" | head; vp_fail "output differs from the native run"; }
vp_note "ok: 40 lines identical to the native run after 3 migrations"

# A signal death travels back too: SIGTERM sent from h3 to the process on h2.
host_spawn h1 "$VPROC_RUN" "$PY" "$PROG" 200 >"$D/run2.out" 2>&1 251>&-
job=$HOST_JOB
vp_wait_until 10 "the second workload runs" grep -q "tick 2 " "$D/run2.out"
V2=$(vpid_of h1 mig_ticker)
migrate "$V2" h2 || vp_fail "migration of $V2 failed"
host_run h3 "$VPROC" kill -TERM "$V2" || vp_fail "vproc kill from h3 failed"
wait "$job"
vp_expect_eq "$?" 143 "the parent sees the migrated process die of SIGTERM"
vp_pass
