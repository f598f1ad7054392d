#!/bin/bash
# A checkpoint does not cut sleeps and timed waits short (libvproc's
# ckpt_restart.h). The checkpoint signal's handler makes the kernel end
# nanosleep, poll, select, epoll_wait, sigtimedwait, timed futex waits, pause
# and sigsuspend with EINTR, and sleep() early with 0: under vproc they go on.
#  - live: `vproc checkpoint` in the middle of each of 18 calls (programs/
#    ckpt_sleep.c); each still returns normally after its full time, and the
#    program's own SIGUSR1 still interrupts as natively (also a nanosleep
#    that a checkpoint interrupted before). Same stdout as an uninterrupted
#    native run.
#  - restore: `vproc checkpoint --stop` in the middle of sleep(3), SIGKILL,
#    1 s later `vproc restore`: the restored sleep sleeps what was left of it
#    at the checkpoint (the second it was down for neither counts nor ends it).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
PROG="$VPROC_HELPER_DIR/ckpt_sleep"
[ -x "$PROG" ] || vp_fail "$PROG is missing (build the integration_helpers target)"

# wait_line FILE LINE LIMIT_S PID: waits until FILE has the line LINE.
wait_line() {
  local file=$1 line=$2 limit=$3 pid=$4 i
  for i in $(seq 1 $((limit * 20))); do
    grep -qxF -- "$line" "$file" 2>/dev/null && return 0
    vp_alive "$pid" || vp_fail "the program ended before it printed '$line': $(tail -n 3 "$file")"
    sleep 0.05
  done
  vp_fail "no line '$line' in $file after ${limit}s"
}

# --- live ---------------------------------------------------------------------
vp_start_native_bg "$D/ref.out" "$PROG" live
vp_start_bg "$D/live.out" "$D/live.out.err" "$PROG" live --expect-checkpoints
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_expect_vpid "$vpid" "the program's vpid"
n=0
while IFS= read -r call; do
  n=$((n + 1))
  wait_line "$D/live.out" "waiting $call" 20 "$pid"
  sleep 0.3  # into the call (1.5 s or more)
  rc=0
  timeout -k 5 30 "$VPROC" checkpoint -o "$D/live$n.vpimg" "$vpid" >"$D/ckpt$n.out" 2>&1 || rc=$?
  [ "$rc" = 0 ] || vp_fail "vproc checkpoint during $call: exit status $rc: $(cat "$D/ckpt$n.out")"
done < <("$PROG" list)
[ "$n" -ge 18 ] || vp_fail "ckpt_sleep list gave $n calls"
vp_wait_exit "$pid" 30 "the checkpointed program"
vp_expect_rc "$VP_RC" 0 "the checkpointed program" "$D/live.out.err"
vp_wait_native "$D/ref.out"
vp_compare_outputs native "$D/ref.out" 0 checkpointed "$D/live.out" 0
vp_note "ok: $n calls, each with a checkpoint in the middle, took their full time; SIGUSR1 still interrupts"

# --- restore ------------------------------------------------------------------
vp_start_native_bg "$D/ref3.out" "$PROG" restore
vp_start_bg "$D/run3.out" "$D/run3.out.err" "$PROG" restore --expect-restore
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
wait_line "$D/run3.out" "waiting sleep3" 20 "$pid"
sleep 1
vp_checkpoint_stop "$vpid" "$D/sleep3.vpimg" "$pid"
vp_kill_reap "$pid"
sleep 1
vp_restore_bg "$D/sleep3.vpimg" "$D/run3.out" "$D/run3.out.err"
pid=$VP_BG_PID
vp_expect_restored "$vpid" "$pid"
vp_wait_exit "$pid" 30 "the restored program"
vp_expect_rc "$VP_RC" 0 "the restored program" "$D/run3.out.err"
vp_wait_native "$D/ref3.out"
vp_compare_outputs native "$D/ref3.out" 0 restored "$D/run3.out" 0
vp_note "ok: $(grep '^sleep(3)' "$D/run3.out.err")"
vp_pass
