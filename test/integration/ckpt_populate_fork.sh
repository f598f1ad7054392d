#!/bin/bash
# A lazy restore maps the image's pages from the image file; libvproc's
# threads then make every one a private copy and give up the image (and the
# read lease `vproc restore` took on it). A program that forks the moment it
# is restored (programs/ckpt_populate_fork.c, 256 MiB of data) must leave a
# child whose pages are private too, although none of those threads comes
# along: libvproc's fork waits for them to finish first; a fork inside glibc
# that bypasses its wrappers (daemon()) leaves the child to populate its own
# pages. Once parent and child report their pages private, overwriting the
# image in place must neither wait for a lease (dd gives up after 20 s) nor
# change either process's memory.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
PROG=$VPROC_HELPER_DIR/ckpt_populate_fork
[ -x "$PROG" ] || vp_fail "missing $PROG (build the integration_helpers target)"
IMG=$D/img.vpimg
MIB=256

vp_start_bg "$D/ck.out" "$D/ck.err" "$PROG" "$IMG" "$MIB" "$D"
vp_wait_exit "$VP_BG_PID" 60 "ckpt_populate_fork before its checkpoint"
vp_expect_rc "$VP_RC" 0 "ckpt_populate_fork's checkpoint" "$D/ck.err"
[ -s "$IMG" ] || vp_fail "no image at $IMG"
cp "$IMG" "$D/img2.vpimg"

# wait_populated PID ROLE...: until each ROLE has reported its pages private.
wait_populated() {
  local pid=$1 role i
  shift
  for role in "$@"; do
    for i in $(seq 1 600); do
      [ -e "$D/populated.$role" ] && break
      [ -z "$pid" ] || vp_alive "$pid" || vp_fail "the restored program ended early: $(cat "$D/err" "$D/ck.out" "$D/ck.err")"
      sleep 0.05
    done
    [ -e "$D/populated.$role" ] || vp_fail "the $role never reported its pages populated: $(cat "$D/err" "$D/ck.err")"
  done
}

# overwrite IMAGE: in place, at once (no lease may be left on it).
overwrite() {
  local size
  size=$(stat -c %s "$1")
  timeout 20 dd if=/dev/zero of="$1" bs=1M count=$(((size >> 20) + 1)) conv=notrunc status=none ||
    vp_fail "overwriting $1 failed or waited for a lease (status $?)"
}

# --- fork() -------------------------------------------------------------------
# The restored process writes to the files the original had open (ck.out).
vp_restore_bg "$IMG" "$D/out" "$D/err"
pid=$VP_BG_PID
wait_populated "$pid" parent child
overwrite "$IMG"
vp_note "ok: fork: parent and child populated, the image overwritten in place without waiting"
touch "$D/go"
vp_wait_exit "$pid" 60 "the restored ckpt_populate_fork"
vp_expect_rc "$VP_RC" 0 "the restored ckpt_populate_fork ($(cat "$D/ck.out" "$D/child.out" 2>/dev/null))" "$D/ck.err"
grep -qx "parent ok" "$D/ck.out" || vp_fail "the parent's memory changed: $(cat "$D/ck.out")"
grep -qx "child ok" "$D/child.out" || vp_fail "the child's memory changed: $(cat "$D/child.out" 2>/dev/null)"
vp_note "ok: fork: parent and child kept their memory"

# --- daemon() -----------------------------------------------------------------
rm -f "$D/go" "$D/populated.parent" "$D/populated.child" "$D/child.out"
touch "$D/daemon"
vp_restore_bg "$D/img2.vpimg" "$D/out" "$D/err"
vp_wait_exit "$VP_BG_PID" 60 "the restored ckpt_populate_fork calling daemon()"
vp_expect_rc "$VP_RC" 0 "the restored ckpt_populate_fork calling daemon()" "$D/ck.err"
wait_populated "" child
overwrite "$D/img2.vpimg"
vp_note "ok: daemon: the child populated, the image overwritten in place without waiting"
touch "$D/go"
for i in $(seq 1 600); do
  [ -s "$D/child.out" ] && break
  sleep 0.05
done
grep -qx "child ok" "$D/child.out" || vp_fail "daemon: the child's memory changed: $(cat "$D/child.out" "$D/ck.err" 2>/dev/null)"
vp_note "ok: daemon: the child kept its memory"
vp_pass
