#!/bin/bash
# vproc-run with a program that cannot run: not found -> 127 and "command not
# found" (like bash); not executable -> 126; no program -> usage error 2. The
# same inside a vproc bash: bash's own 127 / "command not found".
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup
D=$VP_DIR

vp_run_vproc "$D/missing" vproc-no-such-program-xyz arg
vp_expect_eq "$VP_RC" 127 "vproc-run of a missing command: exit status"
vp_expect_contains "$D/missing.err" "command not found" "vproc-run of a missing command: message"
vp_expect_contains "$D/missing.err" "vproc-no-such-program-xyz" "the message names the program"

vp_run_vproc "$D/missing_path" "$D/no/such/file"
vp_expect_eq "$VP_RC" 127 "vproc-run of a missing path: exit status"
vp_expect_contains "$D/missing_path.err" "No such file or directory" "vproc-run of a missing path: message"

printf 'not a program\n' >"$D/plain.txt"
chmod 644 "$D/plain.txt"
vp_run_vproc "$D/noexec" "$D/plain.txt"
vp_expect_eq "$VP_RC" 126 "vproc-run of a non-executable file: exit status"
vp_expect_contains "$D/noexec.err" "Permission denied" "vproc-run of a non-executable file: message"

rc=0
timeout 10 "$VPROC_RUN" --no-start >"$D/noargs" 2>"$D/noargs.err" || rc=$?
vp_expect_eq "$rc" 2 "vproc-run without a program: usage error"
vp_expect_contains "$D/noargs.err" "no PROGRAM given" "vproc-run without a program says so"

vp_run_vproc "$D/bash127" bash -c 'vproc-no-such-program-xyz; echo "status $?"'
vp_expect_eq "$(cat "$D/bash127")/$VP_RC" "status 127/0" "a vproc bash running a missing command gets 127"
vp_expect_contains "$D/bash127.err" "command not found" "bash's own message"
vp_pass
