#!/bin/bash
# A parent migrates while it has two live children (docs/cluster.md,
# "Children left behind"): they stay on h1, children of its shadow, and the
# parent on h2 (then back on h1, as a guest) still gets their SIGCHLDs (si_pid
# = the child's vpid, CLD_EXITED 3 / CLD_KILLED SIGTERM), reaps them with the
# right statuses, and ECHILD after; the child still sees the parent as its
# parent and reaches it with kill(getppid(), SIGUSR2). Output identical to a
# native run. A second round migrates h1 -> h2 -> h1 with the same checks.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/cluster.sh"
cluster_test_start
PROG=${VPROC_HELPER_DIR:-$VPROC_BIN_DIR/../test/integration}/mig_children
[ -x "$PROG" ] || vp_fail "$PROG is not built (make integration_helpers)"

"$PROG" >"$D/native.out" 2>&1
vp_expect_eq "$?" 0 "the native run exits 0"

cluster_up 2
MARK=$CLUSTER_DIR/mark
migrate() {  # vpid host
  host_run h1 "$VPROC" migrate "$1" "$2" >"$D/migrate.out" 2>&1
  local rc=$?
  vp_note "migrate $1 $2: $(cat "$D/migrate.out") (rc $rc)"
  return $rc
}
node_of() {  # vpid -> the node `vproc ps` shows it on
  host_run h2 "$VPROC" ps 2>/dev/null | awk -v v="$1" '$1 == v {print $2}'
}

run_round() {  # name, hosts to migrate to in turn
  local name=$1 to
  shift
  rm -f "$MARK" "$MARK.done"
  host_spawn h1 "$VPROC_RUN" "$PROG" "$MARK" >"$D/$name.out" 2>"$D/$name.err" 251>&-
  local job=$HOST_JOB
  vp_wait_until 10 "the parent has forked ($name)" test -s "$MARK"
  local v kids
  v=$(<"$MARK")
  kids=$(host_run h1 "$VPROC" ps 2>/dev/null | awk -v v="$v" '$4 == v {print $1}' | sort)
  [ "$(echo $kids | wc -w)" = 2 ] || vp_fail "$name: vproc ps on h1 does not list 2 children of $v: '$kids'"
  for to in "$@"; do
    migrate "$v" "$to" || vp_fail "$name: migrating the parent to $to failed: $(cat "$D/migrate.out")"
    vp_expect_eq "$(node_of "$v")" "$to" "$name: the parent runs on $to"
  done
  for k in $kids; do vp_expect_eq "$(node_of "$k")" h1 "$name: child $k stayed on h1"; done
  : >"$MARK.done"
  local rc=0
  wait "$job" || rc=$?
  vp_expect_eq "$rc" 0 "$name: the parent exits 0 (stderr: $(tail -n 5 "$D/$name.err"))"
  cmp -s "$D/native.out" "$D/$name.out" || {
    diff "$D/native.out" "$D/$name.out" | head -20
    vp_fail "$name: output differs from the native run"
  }
  vp_note "ok: $name: $(grep -c . "$D/$name.out") lines identical to the native run"
}

run_round away h2
run_round back h2 h1
grep -q "child .* (pid [0-9]*): exited, status" "$(host_log h1)" || vp_fail "h1's daemon relayed no child's exit"
vp_pass
