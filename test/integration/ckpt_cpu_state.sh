#!/bin/bash
# What a checkpoint taken from outside in the middle of computation brings
# back (programs/ckpt_cpu_state.c): the interrupted code's ymm0-15, general
# registers, MXCSR and x87 control word (the checkpoint lands in an asm loop
# that touches none of them: the image's backtrace must start there), and the
# kernel's and glibc's per-thread and per-process state: TLS and FS base,
# errno, glibc's cached tid (pthread_kill from another thread), rseq, robust
# list, clear_child_tid, signal mask, sigaltstack, an interval timer that keeps
# firing, umask, cwd, rlimit, brk and malloc, cmdline/environ, thread name,
# and fds (O_APPEND, an offset, a deleted file, /dev/null, /dev/urandom, a
# dup'ed pair sharing its offset).
#
# The program spins until SIGUSR1. Natively it gets SIGUSR1 after a second;
# under vproc: `vproc checkpoint --stop` during the loop, SIGKILL, `vproc
# restore` (lazy, then --eager in a second round), SIGUSR1 once the restore
# callback said "restored". Each run must print exactly the expected tokens.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
grep -qw avx /proc/cpuinfo || vp_skip "the CPU lacks AVX"
vp_setup
D=$VP_DIR
PROG="$VPROC_HELPER_DIR/ckpt_cpu_state"
[ -x "$PROG" ] || vp_fail "$PROG is missing (build the integration_helpers target)"
export CKPT_CPU_STATE_VAR='kept across a restore'

cat >"$D/expected" <<'EOF'
looping
ok ymm
ok gpr
ok loop_counters
ok mxcsr
ok x87_cw
ok itimer
ok tls
ok errno
ok fs_base
ok tid
ok pid
ok tid_address
ok tid_cache
ok robust_list
ok restore_count
ok pthread_kill_self
ok raise
ok pthread_kill_from_thread
ok sigmask
ok sigaltstack
ok rseq
ok sched_getcpu
ok umask
ok cwd
ok rlimit
ok brk
ok malloc
ok cmdline
ok environ
ok comm
ok fd_append
ok fd_offset
ok fd_deleted
ok fd_devnull
ok fd_urandom
ok fd_dup_shared
EOF

# wait_line FILE LINE LIMIT_S PID: waits until FILE has the line LINE.
wait_line() {
  local file=$1 line=$2 limit=$3 pid=$4 i
  for i in $(seq 1 $((limit * 20))); do
    grep -qxF -- "$line" "$file" 2>/dev/null && return 0
    vp_alive "$pid" || vp_fail "the program ended before it printed '$line' in $file: $(tail -n 5 "$file")"
    sleep 0.05
  done
  vp_fail "no line '$line' in $file after ${limit}s"
}

# expect_tokens LABEL OUT: OUT holds exactly the expected tokens.
expect_tokens() {
  cmp -s "$D/expected" "$2" || vp_fail "$1: output is not the expected tokens:
$(diff -u --label expected --label "$1" "$D/expected" "$2" | head -n 60)
--- stderr:
$(tail -n 10 "$2.err" 2>/dev/null)"
  vp_note "ok: $1: all $(grep -c '^ok ' "$2") checks passed"
}

# --- the program itself, natively -------------------------------------------
"$PROG" >"$D/native.out" 2>"$D/native.out.err" </dev/null &
pid=$!
vp_track_pid "$pid"
wait_line "$D/native.out" looping 20 "$pid"
sleep 1
kill -USR1 "$pid"
vp_wait_exit "$pid" 20 "the native run"
[ "$VP_RC" = 77 ] && vp_skip "the program finds no AVX"
expect_tokens native "$D/native.out"
vp_expect_rc "$VP_RC" 0 "the native run" "$D/native.out.err"

# --- checkpointed in the loop, killed, restored -------------------------------
# restore_round NAME: one run, restored with $VP_RESTORE_ARGS.
restore_round() {
  local name=$1 out=$D/$1.out pid vpid image=$D/$1.vpimg
  vp_start_bg "$out" "$out.err" "$PROG" --expect-restore
  pid=$VP_BG_PID
  vpid=$(vp_vpid_of "$pid")
  vp_expect_vpid "$vpid" "$name: the program's vpid"
  wait_line "$out" looping 20 "$pid"
  sleep 0.5  # into the loop
  vp_checkpoint_stop "$vpid" "$image" "$pid"
  timeout 30 "$VPROC" inspect "$image" >"$D/$name.inspect" 2>&1 ||
    vp_fail "$name: vproc inspect failed: $(tail -n 5 "$D/$name.inspect")"
  grep -qE '^ *#0 0x[0-9a-f]+ in spin_with_vector_state\+' "$D/$name.inspect" ||
    vp_fail "$name: the checkpoint did not interrupt the asm loop; the image's threads:
$(sed -n '/^threads:/,$p' "$D/$name.inspect" | head -n 12)"
  vp_note "ok: $name: checkpointed inside spin_with_vector_state"
  vp_kill_reap "$pid"
  vp_restore_bg "$image" "$out" "$out.err"
  pid=$VP_BG_PID
  vp_expect_restored "$vpid" "$pid"
  wait_line "$out.err" restored 20 "$pid"
  sleep 0.3  # let it spin (and its timer fire) as itself for a moment
  kill -USR1 "$pid"
  vp_wait_exit "$pid" 30 "$name: the restored program"
  expect_tokens "$name" "$out"
  vp_expect_rc "$VP_RC" 0 "$name: the restored program" "$out.err"
}

VP_RESTORE_ARGS='' restore_round lazy
VP_RESTORE_ARGS=--eager restore_round eager
vp_pass
