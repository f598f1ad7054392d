#!/bin/bash
# Job control of a migrated process (docs/cluster.md, "Stops and continues"):
# its parent sees every stop and continue exactly as without migration.
#
# 1. A C parent (programs/mig_jobctl.c) reports each waitpid(WUNTRACED |
#    WCONTINUED) status of its child and the SIGCHLD that came with it. The
#    child is migrated h1 -> h2 (later -> h3) and stopped and continued with
#    SIGSTOP/SIGTSTP/SIGTTIN/SIGTTOU and SIGCONT, sent to the guest on its node
#    ("g"), to its vpid from a third node ("v"), or to its shadow's real pid
#    on h1 ("s"), in every mix, once across a restart of h1's daemon. After
#    each step the guest must be stopped or running as the step says (vproc ps
#    where it runs), and the parent's lines, the child's count of caught
#    SIGCONTs (each once, however it travelled) and the exit status must be
#    those of a native run that sends the same signals to the child's pid.
# 2. bash in a pseudo-terminal (programs/jobctl_pty.py) runs `vproc-run
#    python3 mig_ticker.py` as a foreground job; the ticker is migrated to h2,
#    ^Z stops the job (bash says Stopped, the guest is stopped and prints
#    nothing), `fg` continues it, and its output arrives complete, exit status
#    7: the same as natively.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/cluster.sh"
cluster_test_start
PROG=${VPROC_HELPER_DIR:-$VPROC_BIN_DIR/../test/integration}/mig_jobctl
[ -x "$PROG" ] || vp_fail "$PROG is not built (make integration_helpers)"
PY=/usr/bin/python3

# Steps: WHO:SIGNAL (g: `vproc kill` of the vpid on the node where the guest
# runs, which signals the guest itself; v: `vproc kill` from a third node,
# which goes through the home node; s: kill(1) of the shadow's real pid;
# natively all three are kill(1) of the child's pid), M:HOST (migrate there),
# or R:HOST (restart the daemon there; with the shadow stopped on h1, it
# must be continued when the guest is: it cannot register again while
# stopped). M and R do nothing natively.
STEPS="M:h2 g:STOP g:CONT g:TSTP g:CONT g:TTIN g:CONT g:TTOU g:CONT
       s:STOP s:CONT s:TSTP s:CONT g:STOP s:CONT s:STOP g:CONT
       v:STOP v:CONT v:TSTP g:CONT g:STOP v:CONT
       M:h3 g:TSTP s:CONT s:TTIN g:CONT s:STOP v:CONT
       g:STOP R:h1 g:CONT"

lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }
# The child's count of caught SIGCONTs (MARK.conts) is N. A SIGCONT step waits
# for it before the next stop: the kernel drops a SIGCONT still pending when a
# stop signal comes, so a child not scheduled in between never catches it.
caught_conts() { [ "$(cat "$1.conts" 2>/dev/null)" = "$2" ]; }

# --- the native reference ---
rm -f "$D/native.mark" "$D/native.mark.done" "$D/native.mark.conts"
"$PROG" "$D/native.mark" >"$D/native.out" 2>"$D/native.err" &
native_job=$!
vp_track_pid "$native_job"
vp_wait_until 10 "the native parent has forked" vp_file_ready "$D/native.mark"
child=$(<"$D/native.mark")
n=0 conts=0
for step in $STEPS; do
  case $step in [MR]:*) continue ;; esac
  kill "-${step#*:}" "$child"
  n=$((n + 1))
  vp_wait_until 10 "the native parent reports step $n ($step)" has_lines "$D/native.out" "$n"
  if [ "${step#*:}" = CONT ]; then
    conts=$((conts + 1))
    vp_wait_until 10 "the native child caught SIGCONT $conts" caught_conts "$D/native.mark" "$conts"
  fi
done
: >"$D/native.mark.done"
wait "$native_job"
vp_expect_eq "$?" 0 "the native parent exits 0 ($(tail -n 3 "$D/native.out"))"
vp_note "native: $(grep -c . "$D/native.out") lines"

# --- migrated ---
cluster_up 3
at=h1
node_of() {  # vpid -> node `vproc ps` shows it on
  host_run h1 "$VPROC" ps 2>/dev/null | awk -v v="$1" '$1 == v {print $2}'
}
state_of() {  # vpid -> its STATE in `vproc ps` where it runs
  host_run "$at" "$VPROC" ps --node "$at" 2>/dev/null | awk -v v="$1" '$1 == v {print $5}'
}
is_state() { [ "$(state_of "$1")" = "$2" ]; }
not_state() { local s; s=$(state_of "$1"); [ -n "$s" ] && [ "$s" != "$2" ]; }

rm -f "$D/mig.mark" "$D/mig.mark.done" "$D/mig.mark.conts"
host_spawn h1 "$VPROC_RUN" "$PROG" "$D/mig.mark" >"$D/mig.out" 2>>"$D/mig.err" 251>&-
job=$HOST_JOB parent_outer=$HOST_PID_OUTER
vp_wait_until 10 "the parent under vproc has forked" vp_file_ready "$D/mig.mark"
V=$(<"$D/mig.mark")
vp_expect_vpid "$V" "the child's pid under vproc"
read -r shadow _ <"/proc/$parent_outer/task/$parent_outer/children"
[ -n "$shadow" ] || vp_fail "no child of the parent (pid $parent_outer) found"
n=0 conts=0
for step in $STEPS; do
  who=${step%%:*} sig=${step#*:}
  case $who in
    M)
      host_run h1 "$VPROC" migrate "$V" "$sig" >"$D/migrate.out" 2>&1 ||
        vp_fail "migrate $V $sig: $(cat "$D/migrate.out")"
      at=$sig
      vp_expect_eq "$(node_of "$V")" "$at" "vpid $V runs on $at"
      vp_note "migrated to $at: $(cat "$D/migrate.out")"
      continue
      ;;
    R)
      host_daemon_restart "$sig"
      vp_note "restarted the daemon on $sig"
      continue
      ;;
    g) host_run "$at" "$VPROC" kill "-$sig" "$V" || vp_fail "vproc kill -$sig $V on $at failed" ;;
    v)
      from=h3
      [ "$at" = h3 ] && from=h2
      host_run "$from" "$VPROC" kill "-$sig" "$V" || vp_fail "vproc kill -$sig $V on $from failed"
      ;;
    s) kill "-$sig" "$shadow" || vp_fail "kill -$sig $shadow (the shadow) failed" ;;
  esac
  n=$((n + 1))
  vp_wait_until 10 "the parent reports step $n ($step) (so far: $(tail -n 1 "$D/mig.out"))" has_lines "$D/mig.out" "$n"
  if [ "$sig" = CONT ]; then
    vp_wait_until 10 "the guest runs after step $n ($step)" not_state "$V" stopped
    conts=$((conts + 1))
    vp_wait_until 10 "the migrated child caught SIGCONT $conts (step $n, $step)" caught_conts "$D/mig.mark" "$conts"
  else
    vp_wait_until 10 "the guest is stopped after step $n ($step)" is_state "$V" stopped
  fi
  want=$(sed -n "${n}p" "$D/native.out")
  got=$(sed -n "${n}p" "$D/mig.out")
  vp_expect_eq "$got" "$want" "the parent's report of step $n ($step)"
done
# Nothing more than the native run saw (a stop or continue mirrored twice).
sleep 0.5
vp_expect_eq "$(lines "$D/mig.out")" "$n" "the parent's reports after $n steps"
: >"$D/mig.mark.done"
wait "$job"
vp_expect_eq "$?" 0 "the parent under vproc exits 0 (stderr: $(tail -n 3 "$D/mig.err"))"
cmp -s "$D/native.out" "$D/mig.out" || {
  diff "$D/native.out" "$D/mig.out" | head -20
  vp_fail "the parent's reports differ from the native run's"
}
cmp -s "$D/native.err" "$D/mig.err" || vp_fail "the child says '$(cat "$D/mig.err")', natively '$(cat "$D/native.err")'"
vp_note "ok: $n stops and continues reported as natively ($(grep -c . "$D/mig.out") lines identical); $(cat "$D/mig.err")"

# --- ^Z and fg at a terminal ---
PTY=$HERE/programs/jobctl_pty.py
TICKER=$HERE/programs/mig_ticker.py
"$PY" "$PTY" "" "$TICKER" 30 >"$D/pty.native" 2>"$D/pty.native.err" ||
  vp_fail "the native terminal run failed: $(tail -n 20 "$D/pty.native.err")"
host_run h1 "$PY" "$PTY" vproc-run "$TICKER" 30 h2 >"$D/pty.mig" 2>"$D/pty.mig.err" 251>&- ||
  vp_fail "the terminal run with a migration failed: $(tail -n 20 "$D/pty.mig.err")"
vp_note "$(grep -v '^tick' "$D/pty.mig" | tr '\n' ';') $(tr '\n' ' ' <"$D/pty.mig.err")"
cmp -s "$D/pty.native" "$D/pty.mig" || {
  diff "$D/pty.native" "$D/pty.mig" | head -20
  vp_fail "the terminal run with a migration differs from the native one"
}
vp_note "ok: ^Z stopped the migrated job, fg continued it, its 30 ticks arrived complete"

vp_pass
