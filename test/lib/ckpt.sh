# Checkpoint/restore helpers for the tests (source after harness.sh).
#
# A checkpointed process is taken down with SIGKILL and brought back by
# `vproc restore IMAGE`, which execs the restorer in place: the restored
# process IS the `vproc restore` process (its pid, its stdio, its exit status).
# Each helper that starts a process registers it for the cleanup trap;
# vp_kill_reap unregisters it once it is reaped, so the trap never signals a
# pid the kernel may have handed to someone else.

# vp_untrack_pid PID: forget PID (it has been reaped).
vp_untrack_pid() {
  local p kept=()
  for p in "${VP_PIDS[@]+"${VP_PIDS[@]}"}"; do
    [ "$p" = "$1" ] || kept+=("$p")
  done
  VP_PIDS=("${kept[@]+"${kept[@]}"}")
}

# vp_close_extra_fds: closes every descriptor above 2 of the current shell.
# Call it in the subshell that execs a process to be checkpointed: a pipe the
# test runner happened to leave open would make the checkpoint refuse.
vp_close_extra_fds() {
  local f fd
  # (No redirection here: bash would save fd 2 in a descriptor the loop closes.)
  for f in "/proc/$BASHPID/fd/"*; do
    fd=${f##*/}
    [ "$fd" -gt 2 ] && eval "exec $fd>&-"
  done
  return 0
}

# vp_state PID: the process's state letter (R, S, T, Z...), empty once it is gone.
vp_state() {
  sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null
}

vp_stopped() { [ "$(vp_state "$1")" = T ]; }

# vp_kill_reap PID: SIGKILL our child PID and reap it.
vp_kill_reap() {
  kill -KILL "$1" 2>/dev/null
  { wait "$1"; } 2>/dev/null
  vp_untrack_pid "$1"
}

# vp_wait_exit PID LIMIT_S WHAT: waits until our child PID exits, reaps it and
# sets VP_RC to its status. Fails if it is still there after LIMIT_S seconds,
# or if it stops (a checkpoint nobody asked for, or one the test missed).
vp_wait_exit() {
  local pid=$1 limit=$2 what=$3 i st
  for i in $(seq 1 $((limit * 20))); do
    st=$(vp_state "$pid")
    case "$st" in
      '' | Z | X) break ;;
      T) vp_fail "$what stopped (state T) instead of exiting" ;;
    esac
    sleep 0.05
  done
  st=$(vp_state "$pid")
  case "$st" in
    '' | Z | X) ;;
    *) vp_fail "$what (pid $pid) still runs after ${limit}s (state $st)" ;;
  esac
  VP_RC=0
  wait "$pid" 2>/dev/null || VP_RC=$?
  vp_untrack_pid "$pid"
}

# vp_ps_lookup KEY VALUE FIELD: prints FIELD of the process (not a thread)
# whose KEY is VALUE in `vproc ps --json`; nothing if none is listed.
vp_ps_lookup() {
  timeout 10 "$VPROC" ps --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
key, value, field = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    for e in json.load(sys.stdin):
        if e.get(key) == value and not e.get("thread"):
            print(e[field])
            break
except Exception:
    pass' "$1" "$2" "$3"
}

# vp_vpid_of PID: prints the vpid the daemon lists for real pid PID (polls up
# to 10 s: a program registers as it starts).
vp_vpid_of() {
  local i v
  for i in $(seq 1 100); do
    v=$(vp_ps_lookup pid "$1" vpid)
    if [ -n "$v" ]; then
      echo "$v"
      return 0
    fi
    sleep 0.1
  done
  vp_fail "vproc ps never listed real pid $1"
}

# vp_real_pid_of VPID: the real pid the daemon lists for VPID (empty if none).
vp_real_pid_of() { vp_ps_lookup vpid "$1" pid; }

# vp_checkpoint_stop VPID IMAGE [PID]: `vproc checkpoint --stop -o IMAGE VPID`
# must succeed, leave IMAGE and (given the real PID) leave the process stopped.
vp_checkpoint_stop() {
  local vpid=$1 image=$2 pid=${3:-} rc=0
  timeout -k 5 30 "$VPROC" checkpoint --stop -o "$image" "$vpid" >"$VP_DIR/ckpt.out" 2>"$VP_DIR/ckpt.err" || rc=$?
  [ "$rc" = 0 ] || vp_fail "vproc checkpoint --stop -o $image $vpid: exit status $rc; stderr:
$(cat "$VP_DIR/ckpt.err")
stdout:
$(cat "$VP_DIR/ckpt.out")"
  vp_checkpoint_stop_wait "$vpid" "$image" "$pid"
}

# After a successful `vproc checkpoint --stop`: IMAGE is there and (given PID)
# the process is stopped.
vp_checkpoint_stop_wait() {
  local vpid=$1 image=$2 pid=${3:-} i
  [ -s "$image" ] || vp_fail "vproc checkpoint --stop -o $image $vpid succeeded but left no image"
  [ -n "$pid" ] || return 0
  for i in $(seq 1 100); do
    vp_stopped "$pid" && return 0
    sleep 0.05
  done
  vp_fail "after vproc checkpoint --stop, process $pid (vpid $vpid) is not stopped (state '$(vp_state "$pid")')"
}

# vp_try_checkpoint_stop VPID IMAGE PID: like vp_checkpoint_stop, for a
# process that may end any moment: returns 1 (no image) if PID exited before
# the checkpoint reached it, and fails only if it still runs.
vp_try_checkpoint_stop() {
  local vpid=$1 image=$2 pid=$3
  if timeout -k 5 30 "$VPROC" checkpoint --stop -o "$image" "$vpid" >"$VP_DIR/ckpt.out" 2>"$VP_DIR/ckpt.err"; then
    vp_checkpoint_stop_wait "$vpid" "$image" "$pid"
    return 0
  fi
  local i
  for i in $(seq 1 20); do
    vp_alive "$pid" || return 1
    sleep 0.05
  done
  vp_fail "vproc checkpoint --stop -o $image $vpid failed while the process runs: $(cat "$VP_DIR/ckpt.err")"
}

# vp_restore_bg IMAGE OUT ERR: starts `vproc restore IMAGE` in the background
# with stdout/stderr appended to OUT/ERR and stdin from /dev/null; its pid (the
# restored process's real pid) goes to VP_BG_PID. VP_RESTORE_ARGS (e.g.
# --eager, or --no-verify while debugging) go before IMAGE.
vp_restore_bg() {
  local image=$1 out=$2 err=$3
  # shellcheck disable=SC2086
  (vp_close_extra_fds && exec "$VPROC" restore ${VP_RESTORE_ARGS:-} "$image") >>"$out" 2>>"$err" </dev/null &
  VP_BG_PID=$!
  vp_track_pid "$VP_BG_PID"
}

# vp_start_bg OUT ERR CMD...: starts CMD under vproc-run in the background,
# stdout to OUT, stderr to ERR; real pid in VP_BG_PID.
vp_start_bg() {
  local out=$1 err=$2
  shift 2
  (vp_close_extra_fds && exec "$VPROC_RUN" --no-start "$@") >"$out" 2>"$err" </dev/null &
  VP_BG_PID=$!
  vp_track_pid "$VP_BG_PID"
}

# vp_live_checkpoint VPID IMAGE PID: `vproc checkpoint -o IMAGE VPID` without
# --stop; sets CK_RC and leaves its output in IMAGE.out. Fails if the command
# hangs or the process is gone or stopped afterwards.
vp_live_checkpoint() {
  CK_RC=0
  timeout -k 5 30 "$VPROC" checkpoint -o "$2" "$1" >"$2.out" 2>&1 </dev/null || CK_RC=$?
  [ "$CK_RC" = 124 ] || [ "$CK_RC" = 137 ] && vp_fail "vproc checkpoint -o $2 $1 hung (30 s): $(cat "$2.out")"
  vp_alive "$3" || vp_fail "the process (pid $3) is gone after vproc checkpoint -o $2: $(cat "$2.out")"
  vp_stopped "$3" && vp_fail "the process (pid $3) is stopped after vproc checkpoint -o $2 (no --stop was given)"
  return 0
}

# vp_live_checkpoints VPID PID OUT COUNT STEP IMAGE_PREFIX WHAT: COUNT live
# checkpoints (IMAGE_PREFIX1.vpimg ...), each once OUT has STEP more lines;
# every one must succeed. Leaves CK_LINES (OUT's lines) and CK_LAST_SIZE
# (OUT's size) as they were right after the last one.
vp_live_checkpoints() {
  local vpid=$1 pid=$2 out=$3 count=$4 step=$5 prefix=$6 what=$7 i
  CK_LINES=0
  for i in $(seq 1 "$count"); do
    vp_wait_lines "$out" $((CK_LINES + step)) 20 "$what before checkpoint $i" "$pid"
    vp_live_checkpoint "$vpid" "$prefix$i.vpimg" "$pid"
    [ "$CK_RC" = 0 ] || vp_fail "checkpoint $i of $what: exit status $CK_RC: $(cat "$prefix$i.vpimg.out")"
    CK_LAST_SIZE=$(stat -c %s "$out")
    CK_LINES=$(wc -l <"$out")
  done
}

# vp_clobber_from FILE OFFSET: overwrites FILE from OFFSET on with '#' (same
# inode and size, so a restore reopens it): only a restored process that
# rewrites its output from its checkpoint on makes it right again.
vp_clobber_from() {
  local size
  size=$(stat -c %s "$1")
  [ "$size" -gt "$2" ] || return 0
  head -c $((size - $2)) /dev/zero | tr '\0' '#' |
    dd of="$1" bs=64K seek="$2" oflag=seek_bytes conv=notrunc status=none || vp_fail "cannot overwrite $1"
}

# vp_ckpt_kill_restore VPID PID IMAGE OUT ERR: checkpoint --stop, SIGKILL,
# restore in the background (VP_BG_PID = the new real pid).
vp_ckpt_kill_restore() {
  local vpid=$1 pid=$2 image=$3 out=$4 err=$5
  vp_checkpoint_stop "$vpid" "$image" "$pid"
  vp_kill_reap "$pid"
  vp_restore_bg "$image" "$out" "$err"
}

# vp_wait_lines FILE N LIMIT_S WHAT [PID]: waits until FILE has at least N
# lines; with PID, fails early should that process end first.
vp_wait_lines() {
  local file=$1 n=$2 limit=$3 what=$4 pid=${5:-} i
  for i in $(seq 1 $((limit * 20))); do
    [ -f "$file" ] && [ "$(wc -l <"$file")" -ge "$n" ] && return 0
    if [ -n "$pid" ] && ! vp_alive "$pid"; then
      vp_fail "$what: the process ended before $file had $n lines (it has $(wc -l <"$file" 2>/dev/null || echo 0))"
    fi
    sleep 0.05
  done
  vp_fail "$what: $file has fewer than $n lines after ${limit}s"
}

# vp_start_native_bg OUT CMD...: the uninterrupted reference run of CMD,
# natively, alongside the test (stdout OUT, stderr OUT.err); vp_wait_native
# reaps it and requires exit status 0.
vp_start_native_bg() {
  local out=$1
  shift
  timeout -k 5 "$VP_TIMEOUT" "$@" >"$out" 2>"$out.err" </dev/null &
  VP_NATIVE_PID=$!
  vp_track_pid "$VP_NATIVE_PID"
}
vp_wait_native() {
  local rc=0
  wait "$VP_NATIVE_PID" || rc=$?
  vp_untrack_pid "$VP_NATIVE_PID"
  [ "$rc" = 0 ] || vp_fail "the uninterrupted reference run failed with status $rc: $(tail -n 5 "$1.err")"
}

# vp_expect_restored VPID PID: vproc ps lists VPID with real pid PID (the
# restore re-registered it), within 10 s.
vp_expect_restored() {
  local i r=""
  for i in $(seq 1 100); do
    r=$(vp_real_pid_of "$1")
    [ "$r" = "$2" ] && break
    sleep 0.1
  done
  [ "$r" = "$2" ] || vp_fail "after the restore, vproc ps lists vpid $1 with real pid '$r', not the restored process $2"
  vp_note "ok: vpid $1 now runs as real pid $2"
}

# vp_expect_rc RC WANT WHAT ERRFILE: exit status RC must be WANT; on failure
# shows ERRFILE's tail (the process's stderr, with vproc restore's messages).
vp_expect_rc() {
  [ "$1" = "$2" ] || vp_fail "$3: exit status $1, expected $2; stderr (last lines):
$(tail -n 20 "$4" 2>/dev/null)"
  vp_note "ok: $3: exit status $2"
}

# vp_gen_lines FILE N: N lines of pseudo-random numbers (the MINSTD generator,
# exact in awk's doubles, so the same file on every run), 18 bytes a line.
vp_gen_lines() {
  awk -v n="$2" 'BEGIN { x = 1; for (i = 0; i < n; i++) { x = (x * 48271) % 2147483647; printf "%010d %06x\n", x, i } }' >"$1" ||
    vp_fail "generating $1 failed"
}

# vp_wait_size FILE BYTES LIMIT_S WHAT PID: waits until FILE has at least
# BYTES bytes; fails should PID end first.
vp_wait_size() {
  local file=$1 bytes=$2 limit=$3 what=$4 pid=$5 i
  for i in $(seq 1 $((limit * 20))); do
    [ "$(stat -c %s "$file" 2>/dev/null || echo 0)" -ge "$bytes" ] && return 0
    vp_alive "$pid" || vp_fail "$what: the process ended before $file reached $bytes bytes"
    sleep 0.05
  done
  vp_fail "$what: $file has fewer than $bytes bytes after ${limit}s"
}

# vp_restore_in_namespaces IMAGE VPID OUT ERR [GO]: restores IMAGE inside new
# pid and mount namespaces (pid 1 is a shell of ours, /run is private) with a
# daemon of their own, the restored process's stdout and stderr appended to
# OUT and ERR. Once that daemon lists VPID it touches GO (if given: the
# program's cue to go on) and waits for the process to end. Leaves its status
# in $D/ns.rc, its pid in the namespace in $D/ns.restored_pid and the daemon's
# `ps --json` in $D/ns.ps.json; fails the test if the namespaces' script fails.
vp_restore_in_namespaces() {
  local image=$1 vpid=$2 out=$3 err=$4 go=${5:-} inner_rc
  # shellcheck disable=SC2016
  local inner='
set -u
D=$1 IMAGE=$2 VPROCD=$3 VPROC=$4 VPID=$5 OUT=$6 ERR=$7 GO=$8
mount -t tmpfs -o mode=755 tmpfs /run || exit 90
mkdir -p /run/vproc
export VPROC_SOCKET=/run/vproc/vprocd.sock
"$VPROCD" --foreground --socket "$VPROC_SOCKET" --log "$D/ns-vprocd.log" --idle-exit 60 \
  >"$D/ns-vprocd.out" 2>&1 </dev/null &
for i in $(seq 100); do "$VPROC" status >/dev/null 2>&1 && break; sleep 0.1; done
"$VPROC" status >"$D/ns-status.out" 2>&1 || exit 91
"$VPROC" restore "$IMAGE" >>"$OUT" 2>>"$ERR" </dev/null &
restored=$!
echo "$restored" >"$D/ns.restored_pid"
for i in $(seq 100); do
  "$VPROC" ps --json >"$D/ns.ps.json" 2>&1
  grep -q "\"vpid\": *$VPID\b" "$D/ns.ps.json" && break
  kill -0 "$restored" 2>/dev/null || break
  sleep 0.1
done
[ -n "$GO" ] && touch "$GO"
wait "$restored"
echo "$?" >"$D/ns.rc"
'
  timeout -k 5 40 unshare --pid --mount --fork --mount-proc --kill-child \
    /bin/bash -c "$inner" inner "$D" "$image" "$VPROCD" "$VPROC" "$vpid" "$out" "$err" "$go" >"$D/ns.script.out" 2>&1
  inner_rc=$?
  [ "$inner_rc" = 0 ] || vp_fail "the namespace script failed with status $inner_rc: $(cat "$D/ns.script.out")
--- namespace daemon: $(cat "$D/ns-status.out" "$D/ns-vprocd.out" 2>/dev/null; tail -n 20 "$D/ns-vprocd.log" 2>/dev/null)
--- restored process's stderr: $(tail -n 20 "$err" 2>/dev/null)"
  [ -s "$D/ns.rc" ] || vp_fail "the restore inside the namespaces did not finish: $(cat "$D/ns.script.out")"
}
