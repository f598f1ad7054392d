#!/bin/bash
# What checkpoint and restore refuse, and how:
#  - `vproc restore` of a truncated image, of an image with one byte of page
#    data flipped, of random bytes (with and without the right magic), of a
#    missing file, and of an image whose program binary was overwritten after
#    the checkpoint: exit status 1, a message, no output, nothing started (the
#    intact image, restored in between, does run);
#  - `vproc checkpoint` of an unknown vpid: an error, no image;
#  - `vproc checkpoint --stop` of a process holding a socket: refused with a
#    message naming the socket; the process is not stopped, runs on and
#    finishes exactly like an uninterrupted run.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR

# expect_restore_refused WHAT IMAGE VPID: `vproc restore IMAGE` exits 1 with a
# message on stderr, prints nothing on stdout, and no process has VPID.
expect_restore_refused() {
  local what=$1 image=$2 vpid=$3 rc=0
  timeout -k 5 30 "$VPROC" restore "$image" >"$D/refused.out" 2>"$D/refused.err" </dev/null || rc=$?
  [ "$rc" = 1 ] || vp_fail "vproc restore of $what: exit status $rc, expected 1; stderr: $(cat "$D/refused.err")"
  [ -s "$D/refused.err" ] || vp_fail "vproc restore of $what: exit status 1 but no message"
  [ -s "$D/refused.out" ] && vp_fail "vproc restore of $what printed on stdout: $(head -c 500 "$D/refused.out")"
  local r
  r=$(vp_real_pid_of "$vpid")
  if [ -n "$r" ] && vp_alive "$r"; then
    vp_fail "vproc restore of $what failed, yet vpid $vpid runs as real pid $r"
  fi
  vp_note "ok: vproc restore of $what: exit status 1: $(tr '\n' ' ' <"$D/refused.err")"
}

# --- an image to spoil: a copy of sleep, run from a path we can overwrite ---
mkdir "$D/bin"
cp /bin/sleep "$D/bin/prog"
vp_start_bg "$D/prog.out" "$D/prog.out.err" "$D/bin/prog" 30
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
sleep 0.2
vp_checkpoint_stop "$vpid" "$D/good.vpimg" "$pid"
vp_kill_reap "$pid"
size=$(stat -c %s "$D/good.vpimg")
vp_note "ok: a $size-byte image of $D/bin/prog (vpid $vpid)"

head -c $((size / 2)) "$D/good.vpimg" >"$D/truncated.vpimg"
expect_restore_refused "an image cut to half its size" "$D/truncated.vpimg" "$vpid"
head -c $((size - 1)) "$D/good.vpimg" >"$D/short.vpimg"
expect_restore_refused "an image one byte short" "$D/short.vpimg" "$vpid"

/usr/bin/python3 - "$D/good.vpimg" "$D/corrupt.vpimg" >"$D/flip.out" 2>&1 <<'PY' || vp_fail "flipping a byte: $(cat "$D/flip.out")"
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
meta_offset = struct.unpack_from("<Q", data, 32)[0]  # ImageHeader.meta_offset
assert 4096 < meta_offset <= len(data), "meta_offset %d out of range" % meta_offset
at = 4096 + (meta_offset - 4096) // 2
data[at] ^= 0xFF
open(sys.argv[2], "wb").write(data)
print(at)
PY
expect_restore_refused "an image with the page-data byte at offset $(cat "$D/flip.out") flipped" "$D/corrupt.vpimg" "$vpid"

/usr/bin/python3 -c '
import random, sys
r = random.Random(7)
open(sys.argv[1], "wb").write(bytes(r.getrandbits(8) for _ in range(65536)))
open(sys.argv[2], "wb").write(b"VPROCIMG" + bytes(r.getrandbits(8) for _ in range(65536)))
' "$D/random.vpimg" "$D/magic-random.vpimg"
expect_restore_refused "64 KiB of random bytes" "$D/random.vpimg" "$vpid"
expect_restore_refused "the magic followed by random bytes" "$D/magic-random.vpimg" "$vpid"
: >"$D/empty.vpimg"
expect_restore_refused "an empty file" "$D/empty.vpimg" "$vpid"
expect_restore_refused "a missing file" "$D/no-such.vpimg" "$vpid"

# The intact image does restore (so the refusals above were about the damage);
# checkpoint the restored process again for the next case.
vp_restore_bg "$D/good.vpimg" "$D/prog.out" "$D/prog.out.err"
pid=$VP_BG_PID
vp_expect_restored "$vpid" "$pid"
sleep 0.3
vp_alive "$pid" || vp_fail "the restored sleep exited early: $(cat "$D/prog.out.err")"
vp_checkpoint_stop "$vpid" "$D/again.vpimg" "$pid"
vp_kill_reap "$pid"

# --- the program binary changed after the checkpoint ---
cp /bin/true "$D/bin/prog"
expect_restore_refused "an image whose program was overwritten" "$D/again.vpimg" "$vpid"
vp_expect_contains "$D/refused.err" "$D/bin/prog" "the message names the changed program"

# --- checkpoint of an unknown vpid ---
rc=0
timeout -k 5 30 "$VPROC" checkpoint --stop -o "$D/unknown.vpimg" 4194999 >"$D/unknown.out" 2>"$D/unknown.err" || rc=$?
[ "$rc" != 0 ] || vp_fail "vproc checkpoint of the unknown vpid 4194999 succeeded"
[ -s "$D/unknown.err" ] || vp_fail "vproc checkpoint of an unknown vpid: exit status $rc but no message"
compgen -G "$D/unknown.vpimg*" >/dev/null && vp_fail "vproc checkpoint of an unknown vpid left $(ls "$D"/unknown.vpimg*)"
vp_note "ok: vproc checkpoint 4194999: exit status $rc: $(tr '\n' ' ' <"$D/unknown.err")"

# --- a process holding a socket ---
PROG=$HERE/programs/ckpt_progress.py
vp_start_native_bg "$D/sock.ref" /usr/bin/python3 "$PROG" "$D/sock.ref.progress" 1000 hold-socket
vp_start_bg "$D/sock.out" "$D/sock.out.err" /usr/bin/python3 "$PROG" "$D/sock.progress" 1000 hold-socket
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_wait_lines "$D/sock.progress" 200 20 "python holding a socket" "$pid"
rc=0
timeout -k 5 30 "$VPROC" checkpoint --stop -o "$D/sock.vpimg" "$vpid" >"$D/sock.ckpt.out" 2>"$D/sock.ckpt.err" || rc=$?
[ "$rc" != 0 ] || vp_fail "vproc checkpoint of a process holding a socket succeeded"
vp_expect_contains "$D/sock.ckpt.err" "socket" "the refusal names the socket"
[ -e "$D/sock.vpimg" ] && vp_fail "the refused checkpoint left $D/sock.vpimg"
compgen -G "$D/sock.vpimg.tmp*" >/dev/null && vp_fail "the refused checkpoint left a temporary file: $(ls "$D"/sock.vpimg.tmp*)"
vp_note "ok: refused with exit status $rc: $(tr '\n' ' ' <"$D/sock.ckpt.err")"
lines=$(wc -l <"$D/sock.progress")
sleep 0.3
vp_stopped "$pid" && vp_fail "the refused checkpoint --stop left the process stopped"
vp_wait_lines "$D/sock.progress" $((lines + 20)) 10 "the process after the refused checkpoint" "$pid"
vp_wait_exit "$pid" 30 "the python holding a socket"
vp_expect_rc "$VP_RC" 0 "the python holding a socket" "$D/sock.out.err"
vp_wait_native "$D/sock.ref"
vp_compare_outputs reference "$D/sock.ref" 0 "after the refused checkpoint" "$D/sock.out" 0
cmp -s "$D/sock.ref.progress" "$D/sock.progress" || vp_fail "progress files differ after the refused checkpoint"
vp_note "ok: it ran on and finished like an uninterrupted run"
vp_pass
