#!/bin/bash
# getppid() of a migrated process that execs (programs/mig_exec.py): the
# number it saw before migrating, after each migration (h1 -> h2 -> h1 -> h2)
# and in every program it execs there — python3 through libc's exec, python3
# and bash through a raw execve system call (helpers/raw_exec: the new image
# has no VPROC_SELF and asks its daemon, as a guest on h2 and as a guest back
# at its home h1), bash's $PPID included. Never its keeper's pid. Two parents:
#   plain   a bash outside vproc on h1 (getppid() = that bash's real pid)
#   vproc   a bash under vproc on h1 (getppid() = its vpid)
# The parent gets the exit status (5) in both. (It writes that to a file of
# its own: the migrated process's stdout, a regular file, is reopened where it
# runs, so the parent's offset in it no longer moves with the child's writes.)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/cluster.sh"
cluster_test_start
PY=/usr/bin/python3
PROG=$HERE/programs/mig_exec.py
RAW=${VPROC_HELPER_DIR:-$VPROC_BIN_DIR/../test/integration}/raw_exec
[ -x "$RAW" ] || vp_fail "$RAW is not built (make integration_helpers)"
# The parent: writes its $$, runs the program, says how it ended.
PARENT='echo $$ >"$0/parent"; "$@"; echo "exit $?" >"$0/status"'

expected() {  # dir -> what the run must print, with its parent's number
  local p
  p=$(<"$1/parent")
  printf '%s: ppid %s\n' start "$p" "start, migrated" "$p" exec "$p" raw-exec "$p" \
    "raw-exec, migrated back" "$p" bash "$p" final "$p" "final, migrated" "$p"
}

check_output() {  # name dir out
  expected "$2" >"$2/expected"
  cmp -s "$2/expected" "$3" || {
    diff "$2/expected" "$3" | head -20 >&2
    vp_fail "$1: getppid() changed (expected, actual above; stderr: $(tail -n 5 "$3.err" 2>/dev/null))"
  }
  vp_expect_eq "$(cat "$2/status")" "exit 5" "$1: the parent gets the exit status"
  vp_note "ok: $1: getppid() is $(<"$2/parent") in all 8 places"
}

# Natively (every point already open): the expected lines, straight through.
mkdir -p "$D/native"
touch "$D/native/go-1" "$D/native/go-2" "$D/native/go-3"
bash -c "$PARENT" "$D/native" "$PY" "$PROG" start "$D/native" "$RAW" >"$D/native.out" 2>"$D/native.out.err"
check_output native "$D/native" "$D/native.out"

cluster_up 2

migrate() {  # name vpid host
  host_run h1 "$VPROC" migrate "$2" "$3" >"$D/migrate.out" 2>&1
  local rc=$?
  vp_note "$1: migrate $2 $3: $(cat "$D/migrate.out") (rc $rc)"
  [ $rc = 0 ] || vp_fail "$1: migrating $2 to $3 failed: $(cat "$D/migrate.out")"
}

at_point() {  # name dir n: waits until the program waits there
  vp_wait_until 20 "$1: the program reaches point $3" test -s "$2/want-$3"
}

run_round() {  # name, then the command that starts the parent on h1 (and its program)
  local name=$1 dir=$CLUSTER_DIR/$1 out=$D/$1.out v p
  shift
  mkdir -p "$dir"
  host_spawn h1 "$@" >"$out" 2>"$out.err" 251>&-
  local job=$HOST_JOB
  at_point "$name" "$dir" 1
  v=$(<"$dir/want-1")
  vp_expect_vpid "$v" "$name: the program's pid"
  p=$(host_run h1 "$VPROC" ps 2>/dev/null | awk -v v="$v" '$1 == v {print $4}')
  vp_expect_eq "$p" "$(<"$dir/parent")" "$name: vproc ps shows the program's parent"
  migrate "$name" "$v" h2
  : >"$dir/go-1"
  at_point "$name" "$dir" 2
  vp_expect_eq "$(<"$dir/want-2")" "$v" "$name: the same vpid after two execs on h2"
  migrate "$name" "$v" h1
  : >"$dir/go-2"
  at_point "$name" "$dir" 3
  vp_expect_eq "$(<"$dir/want-3")" "$v" "$name: the same vpid after two more execs on h1"
  migrate "$name" "$v" h2
  : >"$dir/go-3"
  local rc=0
  wait "$job" || rc=$?
  vp_expect_eq "$rc" 0 "$name: the parent ends normally"
  check_output "$name" "$dir" "$out"
}

run_round plain /bin/bash -c "$PARENT" "$CLUSTER_DIR/plain" \
  "$VPROC_RUN" "$PY" "$PROG" start "$CLUSTER_DIR/plain" "$RAW"
run_round vproc "$VPROC_RUN" /bin/bash -c "$PARENT" "$CLUSTER_DIR/vproc" \
  "$PY" "$PROG" start "$CLUSTER_DIR/vproc" "$RAW"
vp_pass
