#!/bin/bash
# Signalling another user's vproc process is EPERM: the daemon runs as root with
# its socket reachable by everyone; a root process runs under vproc; as nobody,
# `vproc kill` and kill(2) from a vproc process both fail with EPERM and the
# target survives. As a control, nobody can signal its own vproc processes.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
[ "$(id -u)" = 0 ] || { echo "[kill_permission] needs root (it switches to nobody): skipped" >&2; exit 0; }
vp_setup
PROBE="$VPROC_HELPER_DIR/kill_probe"
[ -x "$PROBE" ] || vp_fail "missing helper $PROBE (build the integration_helpers target)"
D=$VP_DIR
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
# nobody must be able to reach the binaries, the library and our temp dir.
"${AS_NOBODY[@]}" test -x "$VPROC" -a -r "$VPROC_LIBRARY" -a -x "$PROBE" -a -r "$D/vprocd.table" ||
  vp_fail "nobody cannot reach the build tree or $D (permissions of $VPROC_BIN_DIR, $VPROC_LIB_DIR, $D)"

"$VPROC_RUN" --no-start sh -c 'echo $$ > '"$D"'/target.pid; exec sleep 30' >"$D/target.out" 2>&1 &
target_job=$!
vp_track_pid "$target_job"
vp_wait_until 10 "the root target recorded its pid" vp_file_ready "$D/target.pid"
target=$(cat "$D/target.pid")
vp_expect_vpid "$target" "the root target's \$\$"

rc=0
timeout 10 "${AS_NOBODY[@]}" "$VPROC" kill -TERM "$target" >"$D/kill.out" 2>"$D/kill.err" || rc=$?
vp_expect_eq "$rc" 1 "vproc kill as nobody on root's process: exit status"
vp_expect_contains "$D/kill.err" "Operation not permitted" "vproc kill as nobody says Operation not permitted"

rc=0
timeout 10 "${AS_NOBODY[@]}" "$VPROC_RUN" --no-start "$PROBE" "$target" 15 >"$D/probe.out" 2>"$D/probe.err" || rc=$?
vp_expect_eq "$(cat "$D/probe.out")/$rc" "kill: EPERM/1" "kill(2) from a vproc process run by nobody: EPERM"

kill -0 "$target_job" 2>/dev/null || vp_fail "the root target died although every attempt was refused"
vp_note "ok: the root target is still alive"

# Control: nobody signals its own process under vproc.
rc=0
timeout 20 "${AS_NOBODY[@]}" "$VPROC_RUN" --no-start sh -c 'sleep 30 & kill $!; wait $!; echo "status $?"' \
  >"$D/own.out" 2>"$D/own.err" || rc=$?
vp_expect_eq "$(cat "$D/own.out")/$rc" "status 143/0" "nobody kills its own vproc child: 143"
rc=0
"${AS_NOBODY[@]}" "$VPROC_RUN" --no-start sh -c 'echo $$ > '"$D"'/tmp/own.pid; exec sleep 30' >"$D/own2.out" 2>&1 &
own_job=$!
vp_track_pid "$own_job"
vp_wait_until 10 "nobody's target recorded its pid" vp_file_ready "$D/tmp/own.pid"
timeout 10 "${AS_NOBODY[@]}" "$VPROC" kill -TERM "$(cat "$D/tmp/own.pid")" 2>"$D/own.err" ||
  vp_fail "vproc kill as nobody on nobody's own process failed: $(cat "$D/own.err")"
wait "$own_job"
vp_expect_eq "$?" 143 "vproc kill as nobody on its own process: 143"

# A vproc process that changes its uid (setpriv runs under vproc here).
rc=0
timeout 10 "$VPROC_RUN" --no-start "${AS_NOBODY[@]}" "$PROBE" "$target" 15 >"$D/probe2.out" 2>"$D/probe2.err" || rc=$?
vp_expect_eq "$(cat "$D/probe2.out")/$rc" "kill: EPERM/1" "kill(2) from a vproc process that dropped to nobody: EPERM"
kill -0 "$target_job" 2>/dev/null || vp_fail "the root target died although the attempt was refused"

timeout 10 "$VPROC" kill -TERM "$target" || vp_fail "root could not vproc kill its own target"
wait "$target_job"
vp_expect_eq "$?" 143 "root's vproc kill on the target: 143"
vp_pass
