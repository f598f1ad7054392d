#!/bin/bash
# `vproc migrate`'s progress line (tools/migrate_progress.h) between real test
# hosts (test/lib/cluster.sh). A python3 process with 256 MiB of touched
# memory started on h1 is migrated three times:
#   h1 -> h2 from h3 under script(1) (a pty: stderr is a terminal): h3 asks
#            the vpid's home (h1) where it runs and forwards the questions
#            there (the source);
#   h2 -> h1 from h1 under script(1): the home knows it runs on h2 and asks
#            the source (h2);
#   h1 -> h2 from h1 with stderr a file: no progress line at all.
# On the terminal the output holds at least one frame of the bar (a stage and
# "N MiB / M MiB") and ends with the result line, the bar erased before it;
# without a terminal the result line is all there is. The program's output is
# byte-identical to a native run and its parent gets its exit status.
# The bar shows once a migration takes 0.3 s: the hosts' links are held to
# 2 Gbit/s (tc), so sending the image takes about a second on any machine.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/cluster.sh"
vp_require_tools
vp_setup_dir
D=$VP_DIR
cluster_need_namespaces || vp_skip "$CLUSTER_NO_NS_REASON"
cluster_daemon_supported || vp_skip "this vprocd has no --cluster"
command -v script >/dev/null || vp_skip "script(1) is not installed"
PY=/usr/bin/python3
PROG=$HERE/programs/mig_bigmem.py
MIB=256
TICKS=60

"$PY" "$PROG" $MIB $TICKS >"$D/native.out"
vp_expect_eq "$?" 7 "the native run exits 7"

cluster_up 3
if command -v tc >/dev/null; then
  for h in h1 h2 h3; do
    host_run "$h" tc qdisc add dev eth0 root tbf rate 2gbit burst 1mb latency 50ms ||
      vp_note "no rate limit on $h's link (tc failed): a fast migration may show no bar"
  done
fi

host_spawn h1 "$VPROC_RUN" "$PY" "$PROG" $MIB $TICKS >"$D/run.out" 2>"$D/run.err" 251>&-
job=$HOST_JOB
vp_wait_until 20 "the workload runs on h1" grep -q "^tick 2 " "$D/run.out"
V=$(host_run h1 "$VPROC" ps 2>/dev/null | awk '/mig_bigmem/ {print $1; exit}')
[ -n "$V" ] || vp_fail "no vpid for the workload on h1"

# The lines of a terminal's output as they end up on the screen: each \r
# starts the line over, blank lines (an erased bar) left out.
screen_lines() { tr '\r' '\n' <"$1" | grep -v '^ *$'; }

# migrate_on_tty FROM-HOST TO: the tool under script(1); its output in $D/tty-TO.out.
migrate_on_tty() {
  local out=$D/tty-$2.out
  host_run "$1" script -qec "vproc migrate $V $2" /dev/null </dev/null >"$out" 2>&1 251>&-
  local rc=$?
  vp_note "migrate $V $2 from $1 on a tty (rc $rc): $(screen_lines "$out" | tail -n 3 | tr '\n' '|')"
  [ "$rc" = 0 ] || vp_fail "the migration of $V to $2 failed: $(screen_lines "$out")"
  # At least one frame: the stage and a byte count, e.g.
  #   vpid V → h2  sending  [####......]  120 MiB / 301 MiB  1.1 GiB/s
  screen_lines "$out" | grep -Eq "^vpid $V → $2  (checkpointing|sending)  .*[0-9.]+ ([KMG]iB|B) / [0-9.]+ ([KMG]iB|B)" ||
    vp_fail "no progress frame in the output of migrate on a tty: $(cat -v "$out" | head -c 2000)"
  vp_note "ok: a progress frame: $(screen_lines "$out" | grep -E ' / ' | tail -n 1)"
  local last
  last=$(screen_lines "$out" | tail -n 1)
  case $last in
    "vpid $V: "*" → $2, "*"frozen "*", total "*) vp_note "ok: the output ends with the result line" ;;
    *) vp_fail "the output on a tty does not end with the result line: '$last'" ;;
  esac
  # The bar was erased: the result line is drawn over blanks, from column 0.
  grep -aq $'\r *\r'"vpid $V: " "$out" || vp_fail "the bar was not erased before the result line: $(cat -v "$out" | tail -c 400)"
}

migrate_on_tty h3 h2
sleep 0.3
migrate_on_tty h1 h1
sleep 0.3

# Not a terminal: the result line alone.
host_run h1 "$VPROC" migrate "$V" h2 >"$D/plain.out" 2>"$D/plain.err" 251>&-
rc=$?
vp_note "migrate $V h2, stderr a file (rc $rc): $(cat "$D/plain.out" "$D/plain.err")"
vp_expect_eq "$rc" 0 "the migration without a terminal succeeds"
vp_expect_eq "$(wc -l <"$D/plain.out")" 1 "one line on stdout"
grep -q "^vpid $V: h1 → h2, " "$D/plain.out" || vp_fail "stdout is not the result line: $(cat "$D/plain.out")"
[ -s "$D/plain.err" ] && vp_fail "stderr is not empty without a terminal: $(cat -v "$D/plain.err")"
grep -q $'\r' "$D/plain.out" && vp_fail "a carriage return in the output without a terminal"
vp_note "ok: without a terminal only the result line"

wait "$job"
vp_expect_eq "$?" 7 "the parent gets the migrated process's exit status"
cmp -s "$D/native.out" "$D/run.out" || { diff "$D/native.out" "$D/run.out" | head; vp_fail "output differs from the native run"; }
vp_note "ok: $(wc -l <"$D/run.out") lines identical to the native run after 3 migrations"
vp_pass
