#!/bin/bash
# `vproc restore --guest MIGRATION IMAGE` (docs/cluster.md step 3), against two
# stub daemons (stub/migration_stub.cc) standing for node 0, where a process
# (programs/mig_counter.c, child of a bash under libvproc, its stdout a pipe)
# is checkpointed for a migration and told to quit, and node 1, where it is
# restored as a guest:
#  - the restore splits off a keeper (the guest's parent); the guest registers
#    with node 1's daemon (Restored with the migration, from its own pid),
#    then waits (Resumed) without running any program code; once the daemon
#    says Ok it goes on where it stopped: no tick lost or repeated, its stdout
#    the restore command's; getpid() is still its node-0 vpid, getppid() its
#    node-0 parent's vpid, kill() of its own pid reaches it, its fork child gets
#    a node-1 vpid and sees the guest as its parent; after an exec it is still
#    the same guest; the keeper reports the exit (GuestStatus) and exits with
#    the guest's status;
#  - Resumed refused: the guest exits 75 without printing anything, reported;
#  - Restored refused: a line on --report-fd, exit status 1 (the keeper's too);
#  - bad input: a clear message, exit status 1 (2 for --report-fd without
#    --guest), a line on --report-fd, no keeper.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_require_tools
vp_setup_dir
D=$VP_DIR
STUB=$VPROC_HELPER_DIR/migration_stub
PROG=$VPROC_HELPER_DIR/mig_counter
TICKS=30
N1=$D/n1.sock
[ -x "$STUB" ] && [ -x "$PROG" ] || vp_fail "missing $STUB or $PROG (build the integration_helpers target)"

# start_stub NODE SOCKET: a stub daemon for NODE; log NODE.log, control dir ctlNODE.
start_stub() {
  local node=$1 sock=$2 i
  mkdir -p "$D/ctl$node"
  "$STUB" serve --socket "$sock" --node "$node" --log "$D/$node.log" --image "$D/mig.vpimg" \
    --control "$D/ctl$node" 2>"$D/$node.err" &
  vp_track_pid $!
  for i in $(seq 1 100); do
    grep -q '^ready' "$D/$node.log" 2>/dev/null && return 0
    sleep 0.05
  done
  vp_fail "the stub daemon for node $node did not start: $(cat "$D/$node.err")"
}
start_stub 0 "$VPROC_SOCKET"
start_stub 1 "$N1"

# await_log NODE LINE WHAT: waits up to 10 s for LINE (a prefix) in NODE's log.
await_log() {
  local i
  for i in $(seq 1 200); do
    grep -q -- "^$2" "$D/$1.log" && return 0
    sleep 0.05
  done
  vp_fail "$3: node $1's stub never logged '$2'; its log: $(cat "$D/$1.log")"
}

# --- the process, checkpointed for a migration at node 0 and told to quit ---
# (VPROC_SHADOW: a migration from home needs one; this one never runs.)
echo quit >"$D/ctl0/verdict"
(vp_close_extra_fds && exec env VPROC_SHADOW=/bin/false LD_PRELOAD="$VPROC_LIBRARY" bash -c '"$0" "$1" --fork --exec; echo "parent-done $?"' \
  "$PROG" "$TICKS" | cat >"$D/orig.out") 2>"$D/orig.err" </dev/null &
vp_track_pid $!
SHELL_JOB=$!
vp_wait_lines "$D/orig.out" 4 10 "the process at node 0"
read -r _ _ VPID _ PARENT < <(grep '^start pid' "$D/orig.out")
vp_expect_vpid "$VPID" "the process's vpid"
vp_expect_vpid "$PARENT" "its parent's vpid"
REAL=$(sed -n "s/^spawned vpid=$VPID real=\([0-9]*\) .*/\1/p" "$D/0.log")
[ -n "$REAL" ] || vp_fail "node 0's stub has no Spawned for vpid $VPID: $(cat "$D/0.log")"
"$STUB" sigqueue "$REAL" 1 4 || vp_fail "cannot send the checkpoint request"
await_log 0 "migrate-wait id=1" "the migration's checkpoint"
grep -q "^result id=1 err=0" "$D/0.log" || vp_fail "the checkpoint failed: $(cat "$D/0.log")"
vp_wait_exit "$SHELL_JOB" 10 "the process at node 0, told to quit"
grep -q '^parent-done 0$' "$D/orig.out" || vp_fail "the parent did not see the process exit 0: $(cat "$D/orig.out")"
last=$(grep '^tick' "$D/orig.out" | tail -n 1 | cut -d' ' -f2)
vp_note "ok: the process quit at node 0 after tick $last; image $(stat -c %s "$D/mig.vpimg") bytes"

# restore_guest OUT ARGS...: `vproc --socket N1 restore --guest 4d --report-fd 3
# ARGS...` (migration 0x4d = 77) in the background, fd 3 to OUT.report, stdout OUT, stderr OUT.err;
# KEEPER is its pid (the keeper's, once the guest is split off).
restore_guest() {
  local out=$1
  shift
  (vp_close_extra_fds && exec "$VPROC" --socket "$N1" restore --guest 4d --report-fd 3 "$@" 3>"$out.report") \
    >"$out" 2>"$out.err" </dev/null &
  KEEPER=$!
  vp_track_pid "$KEEPER"
}

# --- the guest at node 1: paused until Resumed is answered, then on --------
echo hold >"$D/ctl1/resumed"
restore_guest "$D/guest.out" "$D/mig.vpimg"
await_log 1 "resumed vpid=$VPID" "the guest's Resumed"
GUEST=$(sed -n "s/^restored vpid=$VPID parent=$PARENT real=\([0-9]*\) migration=77 peer=\1$/\1/p" "$D/1.log")
[ -n "$GUEST" ] || vp_fail "no Restored{vpid $VPID, parent $PARENT, migration 77} from the guest's own pid: $(cat "$D/1.log")"
grep -q "^resumed vpid=$VPID peer=$GUEST$" "$D/1.log" || vp_fail "Resumed did not come from the guest (pid $GUEST)"
vp_expect_eq "$(awk '{print $4}' "/proc/$GUEST/stat")" "$KEEPER" "the guest's parent is the keeper"
sleep 0.3
[ -s "$D/guest.out" ] && vp_fail "the guest ran before Resumed was answered: $(cat "$D/guest.out")"
[ -s "$D/guest.out.report" ] && vp_fail "a report although the restore went well: $(cat "$D/guest.out.report")"
vp_note "ok: the guest (pid $GUEST) waits for the daemon's word, printing nothing"
echo ok >"$D/ctl1/resumed"
vp_wait_exit "$KEEPER" 10 "the keeper"
vp_expect_rc "$VP_RC" 0 "the keeper exits with the guest's status" "$D/guest.out.err"
vp_state "$GUEST" | grep -q . && vp_fail "the guest (pid $GUEST) still exists"
want=$(seq $((last + 1)) "$TICKS" | sed 's/^/tick /')
vp_expect_eq "$(grep '^tick' "$D/guest.out")" "$want" "the guest goes on from tick $((last + 1)), on the restore's stdout"
vp_expect_contains "$D/guest.out" "end pid $VPID ppid $PARENT" "getpid() and getppid() in the guest"
vp_expect_contains "$D/guest.out" "self-signal ok" "kill() of its own vpid"
read -r _ _ CHILD _ CHILD_PARENT _ ALIVE < <(grep '^child pid' "$D/guest.out")
[ -n "${CHILD:-}" ] && [ "$CHILD" -ge $((2 << 22)) ] && [ "$CHILD" -lt $((3 << 22)) ] ||
  vp_fail "the guest's child should have a node-1 vpid: $(cat "$D/guest.out")"
vp_expect_eq "$CHILD_PARENT $ALIVE" "$VPID 1" "the guest's child sees the guest (vpid $VPID) as its live parent"
vp_expect_contains "$D/guest.out" "waited child $CHILD status 0" "the guest waits for its child"
vp_expect_contains "$D/guest.out" "exec pid $VPID ppid $PARENT" "getpid() and getppid() after the guest execs"
vp_expect_contains "$D/guest.out" "EXIT-SUCCESS" "the guest ran to its end"
await_log 1 "guest-status vpid=$VPID kind=1 status=0 peer=$KEEPER" "the keeper's report of the exit"

# --- Resumed refused: the guest ends, quietly, status 75 -------------------
echo error >"$D/ctl1/resumed"
restore_guest "$D/called-off.out" "$D/mig.vpimg"
vp_wait_exit "$KEEPER" 10 "the keeper of a called-off guest"
vp_expect_rc "$VP_RC" 75 "Resumed refused" "$D/called-off.out.err"
[ -s "$D/called-off.out" ] && vp_fail "a called-off guest ran: $(cat "$D/called-off.out")"
[ -s "$D/called-off.out.err" ] && vp_fail "a called-off guest said something: $(cat "$D/called-off.out.err")"
await_log 1 "guest-status vpid=$VPID kind=1 status=$((75 << 8)) peer=$KEEPER" "the report of a called-off guest"

# --- Restored refused: one line on the report fd, status 1 -----------------
echo error >"$D/ctl1/restored"
restore_guest "$D/refused.out" "$D/mig.vpimg"
vp_wait_exit "$KEEPER" 10 "a refused restore"
vp_expect_rc "$VP_RC" 1 "Restored refused" "$D/refused.out.err"
vp_expect_eq "$(wc -l <"$D/refused.out.report")" 1 "one line on the report fd"
vp_expect_contains "$D/refused.out.report" "the stub refuses this restore" "the daemon's reason on the report fd"
vp_expect_contains "$D/refused.out.err" "the stub refuses this restore" "the daemon's reason on stderr"
await_log 1 "guest-status vpid=$VPID kind=1 status=256 peer=$KEEPER" "the keeper's report of the failed child"
rm "$D/ctl1/restored"

# --- bad input --------------------------------------------------------------
# expect_refused STATUS WHAT TEXT ARGS...: `vproc --socket N1 restore ARGS...`
# exits STATUS with TEXT on stderr, and nothing is restored.
expect_refused() {
  local want=$1 what=$2 text=$3 rc=0
  shift 3
  timeout -k 5 30 "$VPROC" --socket "$N1" restore "$@" >"$D/bad.out" 2>"$D/bad.err" </dev/null || rc=$?
  [ "$rc" = "$want" ] || vp_fail "$what: exit status $rc, expected $want; stderr: $(cat "$D/bad.err")"
  vp_expect_contains "$D/bad.err" "$text" "$what: exit status $want, the message"
}
before=$(grep -c '^guest-status\|^restored' "$D/1.log")
expect_refused 1 "--guest without an id" "option '--guest' needs a value" "$D/mig.vpimg" --guest
expect_refused 1 "--guest 0" "--guest needs a migration id (hexadecimal, not 0), not '0'" --guest 0 "$D/mig.vpimg"
expect_refused 1 "--guest x" "not 'x'" --guest x "$D/mig.vpimg"
expect_refused 1 "--guest of 17 hex digits" "not '10000000000000000'" --guest 10000000000000000 "$D/mig.vpimg"
expect_refused 1 "--report-fd 2" "--report-fd needs a descriptor number above 2" --guest 5 --report-fd 2 "$D/mig.vpimg"
expect_refused 1 "--report-fd of a closed descriptor" "--report-fd 9: Bad file descriptor" --guest 5 --report-fd 9 "$D/mig.vpimg"
exec 3>/dev/null
expect_refused 2 "--report-fd without --guest" "--report-fd goes with --guest" --report-fd 3 "$D/mig.vpimg"
exec 3>&-
expect_refused 1 "a plain restore of another node's vpid" "belongs to node 0" "$D/mig.vpimg"
rc=0
timeout -k 5 30 "$VPROC" --socket "$N1" restore --guest 5 --report-fd 3 "$D/missing.vpimg" \
  3>"$D/missing.report" >"$D/bad.out" 2>"$D/bad.err" </dev/null || rc=$?
vp_expect_eq "$rc" 1 "--guest of a missing image: exit status"
vp_expect_eq "$(wc -l <"$D/missing.report")" 1 "--guest of a missing image: one line on the report fd"
vp_expect_contains "$D/missing.report" "$D/missing.vpimg" "--guest of a missing image: the report names it"
sleep 0.2
vp_expect_eq "$(grep -c '^guest-status\|^restored' "$D/1.log")" "$before" "bad input: no keeper, no registration"

vp_pass
