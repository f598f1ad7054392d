#!/bin/bash
# A checkpoint request that reaches a thread holding a lock which another
# thread waits for with every signal blocked (programs/lock_holder.c; glibc's
# exiting threads do this with its stack cache lock). The leader cannot park
# the waiter until the holder runs on, so it steps aside and the request comes
# back by timer (libvproc/ckpt_retry.h). Eight live checkpoints must each be
# saved (not refused after the 5 s park deadline), the process goes on to the
# output of an uninterrupted run, and so does a restore of the last image.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
PROG=$VPROC_HELPER_DIR/lock_holder
[ -x "$PROG" ] || vp_fail "missing $PROG (build the integration_helpers target)"

vp_start_bg "$D/out" "$D/out.err" "$PROG" 1000000 "$D/stop"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_live_checkpoints "$vpid" "$pid" "$D/out" 8 2 "$D/img" lock_holder
lines=$CK_LINES last_size=$CK_LAST_SIZE
vp_note "ok: 8 checkpoints saved; the last: $(cat "$D/img8.vpimg.out")"
stop=$(((lines + 4) * 25))
echo "$stop" >"$D/stop"
vp_wait_exit "$pid" 30 "lock_holder"
vp_expect_rc "$VP_RC" 0 "lock_holder after 8 checkpoints" "$D/out.err"
vp_run_native "$D/ref" "$PROG" $((stop + 1))
vp_compare_outputs reference "$D/ref" 0 checkpointed "$D/out" 0

# The last image, restored, rewrites what followed it.
vp_clobber_from "$D/out" "$last_size"
vp_restore_bg "$D/img8.vpimg" "$D/out" "$D/out.err"
pid=$VP_BG_PID
vp_wait_exit "$pid" 30 "lock_holder restored from its 8th image"
vp_expect_rc "$VP_RC" 0 "lock_holder restored from its 8th image" "$D/out.err"
vp_compare_outputs reference "$D/ref" 0 restored "$D/out" 0
vp_pass
