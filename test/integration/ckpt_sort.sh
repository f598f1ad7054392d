#!/bin/bash
# Checkpoint/restore of `sort` on a 54 MB file, from outside, twice: once while
# it writes sorted runs to its temporary files, and (if it is caught there)
# once more, in the restored process, while it merges them into its output.
# The result must be byte-identical to an uninterrupted sort's. Single
# threaded (--parallel=1), and -S 8M so it needs temporary files.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/ckpt.sh"
vp_setup
D=$VP_DIR
SORT=$(command -v sort) || vp_skip "sort is not installed"
export LC_ALL=C

vp_gen_lines "$D/big.txt" 3000000
vp_note "generated $(stat -c %s "$D/big.txt") bytes of input"
mkdir "$D/tmp.ref" "$D/tmp.run"
vp_start_native_bg "$D/ref.sorted" "$SORT" --parallel=1 -S 8M -T "$D/tmp.ref" "$D/big.txt"

vp_start_bg "$D/run.sorted" "$D/run.sorted.err" "$SORT" --parallel=1 -S 8M -T "$D/tmp.run" "$D/big.txt"
pid=$VP_BG_PID
vpid=$(vp_vpid_of "$pid")
temp_files() { find "$D/tmp.run" -type f | wc -l; }
vp_wait_until 30 "sort has written 2 temporary files" eval '[ "$(temp_files)" -ge 2 ] || ! vp_alive "$pid"'
vp_alive "$pid" || vp_fail "sort ended before it wrote 2 temporary files"
[ -s "$D/run.sorted" ] && vp_fail "sort already writes its output: too fast to test the first phase"
vp_ckpt_kill_restore "$vpid" "$pid" "$D/sort1.vpimg" "$D/run.sorted" "$D/run.sorted.err"
vp_note "ok: checkpointed sort with $(temp_files) temporary files written"
pid=$VP_BG_PID

# The merge: checkpoint the restored sort again once its output starts.
for _ in $(seq 1 2000); do # (polled often: the merge is short)
  [ -s "$D/run.sorted" ] || ! vp_alive "$pid" && break
  sleep 0.02
done
if vp_alive "$pid" && vp_try_checkpoint_stop "$vpid" "$D/sort2.vpimg" "$pid"; then
  vp_kill_reap "$pid"
  vp_restore_bg "$D/sort2.vpimg" "$D/run.sorted" "$D/run.sorted.err"
  vp_note "ok: checkpointed the restored sort in its merge, $(stat -c %s "$D/run.sorted") bytes written"
  pid=$VP_BG_PID
else
  vp_note "note: the restored sort finished its merge before a second checkpoint"
fi
vp_wait_exit "$pid" 50 "the restored sort"
vp_expect_rc "$VP_RC" 0 "the restored sort" "$D/run.sorted.err"

vp_wait_native "$D/ref.sorted"
cmp "$D/ref.sorted" "$D/run.sorted" >"$D/cmp.out" 2>&1 ||
  vp_fail "the restored sort's output differs from an uninterrupted run's: $(cat "$D/cmp.out"); sizes $(stat -c %s "$D/ref.sorted") and $(stat -c %s "$D/run.sorted")"
vp_expect_eq "$(stat -c %s "$D/run.sorted")" "$(stat -c %s "$D/big.txt")" "sorted output has the input's size"
vp_note "ok: sorted output byte-identical to the uninterrupted run"
vp_pass
