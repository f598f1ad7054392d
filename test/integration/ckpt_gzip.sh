#!/bin/bash
# Checkpoint/restore of `gzip -c` compressing a 72 MB file to a file, from
# outside, in the middle of the run: the output of the restored gzip must be
# byte-identical to that of an uninterrupted `gzip -c` of the same file (gzip
# keeps its input offset, its output offset and its dictionary in the image).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
GZIP=$(command -v gzip) || vp_skip "gzip is not installed"

vp_gen_lines "$D/big.txt" 4000000
vp_note "generated $(stat -c %s "$D/big.txt") bytes of input"
vp_start_native_bg "$D/ref.gz" "$GZIP" -c "$D/big.txt"

vp_start_bg "$D/run.gz" "$D/run.gz.err" "$GZIP" -c "$D/big.txt"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
vp_wait_size "$D/run.gz" $((4 << 20)) 30 "gzip" "$pid"
vp_ckpt_kill_restore "$vpid" "$pid" "$D/gzip.vpimg" "$D/run.gz" "$D/run.gz.err"
vp_note "ok: checkpointed gzip with $(stat -c %s "$D/run.gz") bytes of output written"
vp_wait_exit "$VP_BG_PID" 50 "the restored gzip"
vp_expect_rc "$VP_RC" 0 "the restored gzip" "$D/run.gz.err"

vp_wait_native "$D/ref.gz"
cmp "$D/ref.gz" "$D/run.gz" >"$D/cmp.out" 2>&1 ||
  vp_fail "the restored gzip's output differs from an uninterrupted run's: $(cat "$D/cmp.out"); sizes $(stat -c %s "$D/ref.gz") and $(stat -c %s "$D/run.gz")"
gzip -t "$D/run.gz" || vp_fail "the restored gzip's output does not test as valid gzip"
vp_note "ok: $(stat -c %s "$D/run.gz") bytes of gzip output, byte-identical to the uninterrupted run"
vp_pass
