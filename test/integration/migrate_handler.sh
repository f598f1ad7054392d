#!/bin/bash
# The migrating process's side of a migration's checkpoint (kCkptMigrate,
# docs/cluster.md step 2), against a stub daemon (stub/migration_stub.cc) that
# answers the writer's MigrateWait as this script tells it. A process
# (programs/mig_counter.c, under libvproc) gets the daemon's checkpoint signal
# with flag 4 in the middle of its ticks:
#  - continue, held back for a while: until the verdict the process is frozen
#    (no tick; its own SIGUSR1 handler does not run, the signal waits); then
#    it goes on and prints what an uninterrupted run prints; the image is
#    complete before the writer asks for the verdict;
#  - no verdict (the writer's connection closed; an error reply, as vprocd's
#    ENOSYS before its migration side exists): it goes on the same way;
#  - quit: it exits 0 at once, printing nothing more;
#  - shadow: the same pid execs $VPROC_SHADOW with VPID MIGRATION TARGET, the
#    daemon's socket and no LD_PRELOAD; its parent gets the shadow's status;
#  - a shadow that cannot be exec'd: a message, exit status 127;
#  - no vproc-shadow at all: the checkpoint is refused with a message, no
#    verdict is asked for, and the process goes on.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_require_tools
vp_setup_dir
D=$VP_DIR
STUB=$VPROC_HELPER_DIR/migration_stub
PROG=$VPROC_HELPER_DIR/mig_counter
TICKS=20
[ -x "$STUB" ] && [ -x "$PROG" ] || vp_fail "missing $STUB or $PROG (build the integration_helpers target)"

mkdir "$D/ctl"
"$STUB" serve --socket "$VPROC_SOCKET" --node 0 --log "$D/stub.log" --image "$D/mig.vpimg" \
  --control "$D/ctl" 2>"$D/stub.err" &
vp_track_pid $!
for i in $(seq 1 100); do
  grep -q '^ready' "$D/stub.log" 2>/dev/null && break
  sleep 0.05
done
grep -q '^ready' "$D/stub.log" 2>/dev/null || vp_fail "the stub daemon did not start: $(cat "$D/stub.err")"

cat >"$D/shadow" <<EOF
#!/bin/sh
echo "shadow \$* socket=\$VPROC_SOCKET preload=\${LD_PRELOAD-unset} pid=\$\$" >"$D/shadow.log"
exit 42
EOF
printf 'not a program\n' >"$D/bad-shadow"
chmod 755 "$D/shadow" "$D/bad-shadow"

# The uninterrupted run, natively (pids aside, the same lines).
"$PROG" "$TICKS" 2>&1 </dev/null | grep -v -e '^start ' -e '^end ' >"$D/native.out"
grep -q EXIT-SUCCESS "$D/native.out" || vp_fail "the native run failed: $(cat "$D/native.out")"

# run_case ID SHADOW: starts mig_counter under libvproc with VPROC_SHADOW=SHADOW,
# waits for its third tick, sends the checkpoint request ID with flag 4.
# PROG_PID, OUT (stdout; stderr in OUT.err), VPID.
run_case() {
  local id=$1 shadow=$2
  OUT=$D/case$id.out
  (vp_close_extra_fds && exec env VPROC_SHADOW="$shadow" LD_PRELOAD="$VPROC_LIBRARY" "$PROG" "$TICKS") \
    >"$OUT" 2>"$OUT.err" </dev/null &
  PROG_PID=$!
  vp_track_pid "$PROG_PID"
  vp_wait_lines "$OUT" 4 10 "case $id" "$PROG_PID"
  VPID=$(sed -n 's/^start pid \([0-9]*\) .*/\1/p' "$OUT")
  vp_expect_vpid "$VPID" "case $id: the process's getpid()"
  "$STUB" sigqueue "$PROG_PID" "$id" 4 || vp_fail "case $id: cannot send the checkpoint request"
}

# await_log LINE WHAT: waits up to 10 s for LINE (a prefix) in the stub's log.
await_log() {
  local i
  for i in $(seq 1 200); do
    grep -q -- "^$1" "$D/stub.log" && return 0
    sleep 0.05
  done
  vp_fail "$2: the stub never logged '$1'; its log: $(cat "$D/stub.log")"
}

# expect_uninterrupted WHAT: OUT is the native run's, pids and usr1 aside.
expect_uninterrupted() {
  grep -v -e '^start ' -e '^end ' -e '^usr1$' "$OUT" >"$OUT.cmp"
  cmp -s "$OUT.cmp" "$D/native.out" || vp_fail "$1: the output differs from an uninterrupted run:
$(diff "$D/native.out" "$OUT.cmp" | head -20)"
  vp_note "ok: $1: the same output as an uninterrupted run"
}

# --- continue, held back: frozen until the verdict --------------------------
echo hold >"$D/ctl/verdict"
run_case 1 "$D/shadow"
await_log "migrate-wait id=1" "continue"
grep -q "^result id=1 err=0 path=$D/mig.vpimg" "$D/stub.log" ||
  vp_fail "the image was not reported complete before the verdict was asked for: $(cat "$D/stub.log")"
[ -s "$D/mig.vpimg" ] || vp_fail "no image at $D/mig.vpimg"
"$VPROC" inspect "$D/mig.vpimg" >"$D/inspect.out" 2>&1 || vp_fail "vproc inspect of the image: $(cat "$D/inspect.out")"
vp_note "ok: the image is complete before the verdict ($(stat -c %s "$D/mig.vpimg") bytes)"
lines=$(wc -l <"$OUT")
kill -USR1 "$PROG_PID"
sleep 0.4
vp_expect_eq "$(wc -l <"$OUT")" "$lines" "no tick and no SIGUSR1 handler while waiting for the verdict"
vp_expect_eq "$(vp_state "$PROG_PID")" S "the waiting process sleeps"
echo continue >"$D/ctl/verdict"
vp_wait_exit "$PROG_PID" 10 "case 1"
vp_expect_rc "$VP_RC" 0 "continue" "$OUT.err"
vp_expect_eq "$(grep -c '^usr1$' "$OUT")" 1 "the SIGUSR1 that came while frozen, delivered once after"
expect_uninterrupted "continue"

# --- no verdict: the writer's connection closed, or an error reply ---------
id=2
for mode in eof error; do
  echo "$mode" >"$D/ctl/verdict"
  run_case "$id" "$D/shadow"
  await_log "migrate-wait id=$id" "$mode"
  vp_wait_exit "$PROG_PID" 10 "case $id ($mode)"
  vp_expect_rc "$VP_RC" 0 "no verdict ($mode)" "$OUT.err"
  expect_uninterrupted "no verdict ($mode)"
  id=$((id + 1))
done

# --- quit: exits at once, quietly ----------------------------------------
echo quit >"$D/ctl/verdict"
run_case 4 "$D/shadow"
await_log "migrate-wait id=4" "quit"
vp_wait_exit "$PROG_PID" 5 "case 4 (quit)"
vp_expect_rc "$VP_RC" 0 "quit" "$OUT.err"
grep -q EXIT-SUCCESS "$OUT" && vp_fail "quit: the process ran on: $(cat "$OUT")"
ticks=$(grep -c '^tick' "$OUT")
[ "$ticks" -lt "$TICKS" ] || vp_fail "quit: all $ticks ticks printed"
[ -s "$OUT.err" ] && vp_fail "quit: a message on stderr: $(cat "$OUT.err")"
vp_note "ok: quit: the process ended after tick $ticks, quietly"

# --- shadow: the same pid becomes vproc-shadow -----------------------------
echo shadow >"$D/ctl/verdict"
run_case 5 "$D/shadow"
await_log "migrate-wait id=5" "shadow"
vp_wait_exit "$PROG_PID" 10 "case 5 (shadow)"
vp_expect_rc "$VP_RC" 42 "shadow: the parent gets the shadow's status" "$OUT.err"
vp_expect_eq "$(cat "$D/shadow.log" 2>/dev/null)" \
  "shadow $VPID 77 1 socket=$VPROC_SOCKET preload=unset pid=$PROG_PID" "the shadow's arguments, environment and pid"
grep -q EXIT-SUCCESS "$OUT" && vp_fail "shadow: the program ran on: $(cat "$OUT")"

# --- a shadow that cannot be exec'd: exit 127 ------------------------------
run_case 6 "$D/bad-shadow"
await_log "migrate-wait id=6" "shadow that cannot run"
vp_wait_exit "$PROG_PID" 10 "case 6 (bad shadow)"
vp_expect_rc "$VP_RC" 127 "a shadow that cannot be exec'd" "$OUT.err"
vp_expect_contains "$OUT.err" "cannot leave its shadow here" "the message about the shadow"
grep -q EXIT-SUCCESS "$OUT" && vp_fail "bad shadow: the program ran on: $(cat "$OUT")"

# --- no vproc-shadow: refused, the process goes on -------------------------
echo continue >"$D/ctl/verdict"
run_case 7 "$D/missing-shadow"
await_log "result id=7 err=95" "no vproc-shadow"
vp_wait_exit "$PROG_PID" 10 "case 7 (no shadow)"
vp_expect_rc "$VP_RC" 0 "no vproc-shadow" "$OUT.err"
vp_expect_contains "$D/stub.log" "vproc-shadow, which it leaves at its home node when it migrates, cannot run: $D/missing-shadow: No such file" \
  "no vproc-shadow: the refusal says why"
grep -q "^migrate-wait id=7" "$D/stub.log" && vp_fail "no vproc-shadow: a verdict was asked for after a refusal"
expect_uninterrupted "no vproc-shadow"

vp_pass
