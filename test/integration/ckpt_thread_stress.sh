#!/bin/bash
# Checkpoints of threaded processes in awkward moments:
#  (a) threads born and gone at a high rate (programs/thread_churn.c): 20
#      checkpoints while it runs, each must succeed and leave it running; its
#      output is that of an uninterrupted run, and so is that of a restore of
#      the last image (which must rewrite what followed its checkpoint);
#  (b) 64 threads at once (programs/thread_states.c), each holding a mutex,
#      sleeping, waiting or computing: checkpoint --stop, SIGKILL, restore;
#      each thread finds its own state as it was (thread-locals, stack,
#      signal mask, alternate stack, name, gettid(), pthread_self(), its
#      error-checking/recursive/robust mutexes still its own);
#  (c) one thread forking and reaping children in a loop (programs/
#      thread_fork.c) while 15 checkpoints arrive: each is saved, or refused
#      saying that a child process exists; the process never hangs, stops or
#      crashes, and its output is that of an uninterrupted run (and a saved
#      image, if any, restores and runs to the same end);
#  (d) a single-threaded sleep(5) (programs/sleep_five.c) checkpointed at
#      1 s: the original and the restored copy both sleep the full time.
# PARTS (default abcd) selects parts, e.g. PARTS=b while debugging.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
CHURN=$VPROC_HELPER_DIR/thread_churn
STATES=$VPROC_HELPER_DIR/thread_states
FORK=$VPROC_HELPER_DIR/thread_fork
SLEEP5=$VPROC_HELPER_DIR/sleep_five
for p in "$CHURN" "$STATES" "$FORK" "$SLEEP5"; do
  [ -x "$p" ] || vp_fail "missing $p (build the integration_helpers target)"
done

PARTS=${PARTS:-abcd}
part() { case $PARTS in *"$1"*) return 0 ;; esac; return 1; }

# --- (d) starts: sleep(5), a checkpoint 1 s in --------------------------------
d_start() {
  vp_start_bg "$D/sleep.out" "$D/sleep.out.err" "$SLEEP5" --expect-checkpoint
  sleep_pid=$VP_BG_PID
  sleep_vpid=$(vp_vpid_of "$sleep_pid")
  vp_wait_lines "$D/sleep.out" 1 10 "sleep_five" "$sleep_pid"
  sleep 1
  vp_live_checkpoint "$sleep_vpid" "$D/sleep.vpimg" "$sleep_pid"
  [ "$CK_RC" = 0 ] || vp_fail "(d) vproc checkpoint of sleep_five: exit status $CK_RC: $(cat "$D/sleep.vpimg.out")"
  vp_note "ok: (d) sleep_five checkpointed 1 s into sleep(5), runs on"
}

# --- (a) thread churn, 20 checkpoints --------------------------------------------
a_run() {
  vp_start_bg "$D/churn.out" "$D/churn.out.err" "$CHURN" 1000000 1000 "$D/churn.stop"
  pid=$VP_BG_PID
  a_vpid=$(vp_vpid_of "$pid")
  vp_live_checkpoints "$a_vpid" "$pid" "$D/churn.out" 20 15 "$D/churn" "(a) thread_churn"
  lines=$CK_LINES a_last_size=$CK_LAST_SIZE
  vp_note "ok: (a) 20 checkpoints of thread_churn, the last after round $lines; $(cat "$D/churn20.vpimg.out")"
  a_stop=$((lines + 30))
  echo "$a_stop" >"$D/churn.stop"
  vp_wait_exit "$pid" 20 "thread_churn"
  vp_expect_rc "$VP_RC" 0 "(a) thread_churn after 20 checkpoints" "$D/churn.out.err"
  vp_run_native "$D/churn.ref" "$CHURN" $((a_stop + 1))
  vp_compare_outputs reference "$D/churn.ref" 0 checkpointed "$D/churn.out" 0
}

# (d): the original's sleep took its full time.
d_restore() {
  vp_wait_exit "$sleep_pid" 10 "(d) the original sleep_five"
  vp_expect_rc "$VP_RC" 0 "(d) the original sleep_five" "$D/sleep.out.err"
  vp_expect_contains "$D/sleep.out" "elapsed >= 5 s: yes" "(d) the original slept the full 5 s"
  vp_note "ok: (d) original: $(head -n 1 "$D/sleep.out.err")"
  vp_clobber_from "$D/sleep.out" 11  # all but "sleeping 5\n"
  vp_restore_bg "$D/sleep.vpimg" "$D/sleep.out" "$D/sleep.out.err"
  sleep_pid=$VP_BG_PID
}

# (a): the last image, restored, rewrites what followed it.
a_restore() {
  vp_clobber_from "$D/churn.out" "$a_last_size"
  vp_restore_bg "$D/churn20.vpimg" "$D/churn.out" "$D/churn.out.err"
  pid=$VP_BG_PID
  vp_wait_exit "$pid" 20 "(a) thread_churn restored from its 20th image"
  vp_expect_rc "$VP_RC" 0 "(a) thread_churn restored from its 20th image" "$D/churn.out.err"
  vp_compare_outputs reference "$D/churn.ref" 0 restored "$D/churn.out" 0
  vp_note "ok: (a) the restored 20th image ran to the same end ($((a_stop + 1)) rounds)"
}

# --- (b) 64 threads, checkpoint --stop, kill, restore ------------------------------
b_run() {
  vp_start_native_bg "$D/states.ref" "$STATES" 64 3000
  vp_start_bg "$D/states.out" "$D/states.out.err" "$STATES" 64 3000
  pid=$VP_BG_PID
  vpid=$(vp_vpid_of "$pid")
  vp_wait_lines "$D/states.out" 1 20 "thread_states" "$pid"
  vp_ckpt_kill_restore "$vpid" "$pid" "$D/states.vpimg" "$D/states.out" "$D/states.out.err"
  [ "$(wc -l <"$D/states.out")" = 1 ] ||
    vp_fail "(b) the checkpoint came after the threads' 3 s of waiting (the machine is too slow?): $(head -n 3 "$D/states.out")"
  timeout 30 "$VPROC" inspect "$D/states.vpimg" >"$D/states.inspect" 2>&1 || vp_fail "vproc inspect: $(cat "$D/states.inspect")"
  vp_expect_contains "$D/states.inspect" "threads: 65" "(b) the image holds all 65 threads"
  pid=$VP_BG_PID
  vp_expect_restored "$vpid" "$pid"
  vp_wait_exit "$pid" 20 "(b) the restored thread_states"
  [ "$VP_RC" = 0 ] || vp_fail "(b) the restored thread_states: exit status $VP_RC:
$(grep -v ' ok$' "$D/states.out" | head -n 20)
--- stderr: $(tail -n 10 "$D/states.out.err")"
  vp_wait_native "$D/states.ref"
  vp_compare_outputs reference "$D/states.ref" 0 restored "$D/states.out" 0
  vp_note "ok: (b) $(tail -n 2 "$D/states.out" | head -n 1) after the restore"
}

# --- (c) checkpoints while a thread forks -----------------------------------------
c_run() {
  vp_start_bg "$D/fork.out" "$D/fork.out.err" "$FORK" 1000000 "$D/fork.stop"
  pid=$VP_BG_PID
  vpid=$(vp_vpid_of "$pid")
  lines=0 saved=0 refused=0 last_saved=""
  for i in $(seq 1 15); do
    vp_wait_lines "$D/fork.out" $((lines + 10)) 20 "thread_fork before checkpoint $i" "$pid"
    vp_live_checkpoint "$vpid" "$D/fork$i.vpimg" "$pid"
    case $CK_RC in
      0)
        saved=$((saved + 1))
        last_saved=$i
        last_size=$(stat -c %s "$D/fork.out")
        ;;
      1)
        grep -qi 'child' "$D/fork$i.vpimg.out" ||
          vp_fail "(c) checkpoint $i refused without naming the child process: $(cat "$D/fork$i.vpimg.out")"
        refused=$((refused + 1))
        ;;
      *) vp_fail "(c) checkpoint $i of thread_fork: exit status $CK_RC: $(cat "$D/fork$i.vpimg.out")" ;;
    esac
    lines=$(wc -l <"$D/fork.out")
  done
  stop=$((lines + 20))
  echo "$stop" >"$D/fork.stop"
  vp_wait_exit "$pid" 20 "thread_fork"
  vp_expect_rc "$VP_RC" 0 "(c) thread_fork after 15 checkpoints" "$D/fork.out.err"
  vp_run_native "$D/fork.ref" "$FORK" $((stop + 1))
  vp_compare_outputs reference "$D/fork.ref" 0 checkpointed "$D/fork.out" 0
  vp_note "ok: (c) 15 checkpoints during fork/wait: $saved saved, $refused refused because a child existed; output identical"
  if [ -n "$last_saved" ]; then
    vp_clobber_from "$D/fork.out" "$last_size"
    vp_restore_bg "$D/fork$last_saved.vpimg" "$D/fork.out" "$D/fork.out.err"
    pid=$VP_BG_PID
    vp_wait_exit "$pid" 20 "(c) thread_fork restored from image $last_saved"
    vp_expect_rc "$VP_RC" 0 "(c) thread_fork restored from image $last_saved" "$D/fork.out.err"
    vp_compare_outputs reference "$D/fork.ref" 0 restored "$D/fork.out" 0
    vp_note "ok: (c) image $last_saved restored: it forks on and ends the same"
  fi
}

# --- (d) ends: the restored copy slept what was left -------------------------------
d_end() {
  vp_wait_exit "$sleep_pid" 15 "(d) the restored sleep_five"
  vp_expect_rc "$VP_RC" 0 "(d) the restored sleep_five" "$D/sleep.out.err"
  printf 'sleeping 5\nsleep(5) returned 0\nelapsed >= 5 s: yes\nEXIT-SUCCESS\n' >"$D/sleep.expected"
  cmp -s "$D/sleep.expected" "$D/sleep.out" || vp_fail "(d) the restored sleep_five printed: $(cat "$D/sleep.out")"
  vp_expect_contains "$D/sleep.out.err" "after the restore: slept" "(d) the restored copy slept what was left of sleep(5)"
  vp_note "ok: (d) restored: $(grep 'after the restore' "$D/sleep.out.err")"
}

# (d) runs alongside the others: its sleep takes 5 s, then 4 s more restored.
part d && d_start
part a && a_run
part d && d_restore
part a && a_restore
part b && b_run
part c && c_run
part d && d_end
vp_pass
