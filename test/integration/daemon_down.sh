#!/bin/bash
# With no daemon listening, the tools fail clearly: `vproc ps`, `vproc status`,
# `vproc kill` and `vproc-run --no-start` exit non-zero with a message naming
# the daemon/socket. A program started with a plain LD_PRELOAD still runs
# (vproc inactive: real pids).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup
D=$VP_DIR
vp_stop_daemon TERM
vp_note "daemon stopped"

expect_tool_error() { # LABEL CMD...
  local label=$1
  shift
  local rc=0
  timeout 10 "$@" >"$D/out" 2>"$D/err" || rc=$?
  [ "$rc" != 0 ] || vp_fail "$label with the daemon down: exit status 0"
  [ "$rc" != 124 ] || vp_fail "$label with the daemon down: hung (timeout)"
  [ -s "$D/err" ] || vp_fail "$label with the daemon down: no message on stderr"
  grep -qiE 'daemon|vprocd' "$D/err" || vp_fail "$label: the message does not mention the daemon: $(cat "$D/err")"
  vp_note "ok: $label fails (status $rc): $(head -n 1 "$D/err")"
}
expect_tool_error "vproc ps" "$VPROC" ps
expect_tool_error "vproc ps --json" "$VPROC" ps --json
expect_tool_error "vproc status" "$VPROC" status
expect_tool_error "vproc kill" "$VPROC" kill 4194305
expect_tool_error "vproc-run --no-start" "$VPROC_RUN" --no-start true
VPROC_SOCKET="$D/no/such/dir/vprocd.sock" expect_tool_error "vproc ps on a missing socket dir" "$VPROC" ps
[ -s "$D/out" ] && vp_fail "vproc ps printed a table with no daemon: $(cat "$D/out")"

rm -f "$VPROC_SOCKET"
: >"$VPROC_SOCKET" # a plain file where the socket should be
expect_tool_error "vproc ps on a non-socket" "$VPROC" ps
rm -f "$VPROC_SOCKET"

vp_run_preload "$D/inactive" sh -c 'echo $$; sh -c "exit 4"; echo "status $?"'
vp_expect_eq "$VP_RC" 0 "LD_PRELOAD without a daemon: the program runs"
set -- $(cat "$D/inactive")
[ "$1" -lt 4194304 ] 2>/dev/null || vp_fail "LD_PRELOAD without a daemon: \$\$ = '$1', expected the real pid"
vp_expect_eq "$2 $3" "status 4" "LD_PRELOAD without a daemon: children and statuses work"
vp_pass
