#!/bin/bash
# make -j2 under vproc-run: a generated Makefile with several targets (each
# recipe records its shell's $$ and writes a file), a pattern rule, a
# sub-make and $(shell). The build must succeed, produce the same files as a
# native build, and every recorded $$ must be a distinct virtual pid.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup

# generate DIR: the project tree.
generate() {
  mkdir -p "$1/sub"
  {
    printf 'PARTS := %s\n' "$(seq -s ' ' -f 'part%g.out' 1 8)"
    printf 'SHELL_PID := $(shell echo $$$$)\n'
    printf 'all: final.txt sub.done shellpid.txt\n'
    printf 'part%%.out:\n\techo $$$$ > $@.pid; sleep 0.05; echo "built $@" > $@\n'
    printf 'final.txt: $(PARTS)\n\techo $$$$ > $@.pid; cat $(PARTS) > $@\n'
    printf 'sub.done:\n\t$(MAKE) -C sub\n\techo $$$$ > $@.pid; touch $@\n'
    printf 'shellpid.txt:\n\techo $(SHELL_PID) > $@.pid; echo shell-ran > $@\n'
  } >"$1/Makefile"
  {
    printf 'all: a.out b.out\n'
    printf '%%.out:\n\techo $$$$ > $@.pid; echo "sub $@" > $@\n'
  } >"$1/sub/Makefile"
}

generate "$VP_DIR/native"
generate "$VP_DIR/vproc"
vp_run_native "$VP_DIR/make.native" make -j2 -C "$VP_DIR/native"
[ "$VP_RC" = 0 ] || vp_fail "native make failed ($VP_RC): $(tail -n 5 "$VP_DIR/make.native.err")"
vp_run_vproc "$VP_DIR/make.vproc" make -j2 -C "$VP_DIR/vproc"
[ "$VP_RC" = 0 ] || vp_fail "make -j2 under vproc-run failed ($VP_RC): $(tail -n 10 "$VP_DIR/make.vproc.err")"
vp_note "ok: make -j2 succeeded under vproc-run"

# The same files with the same contents (pid files aside).
diff -r -x '*.pid' "$VP_DIR/native" "$VP_DIR/vproc" >"$VP_DIR/tree.diff" ||
  vp_fail "the vproc build differs from the native one: $(head -n 20 "$VP_DIR/tree.diff")"
expected=$(for i in $(seq 1 8); do echo "built part$i.out"; done)
vp_expect_eq "$(cat "$VP_DIR/vproc/final.txt")" "$expected" "final.txt holds every part in order"
vp_expect_eq "$(cat "$VP_DIR/vproc/sub/a.out" "$VP_DIR/vproc/sub/b.out")" "sub a.out
sub b.out" "the sub-make built its targets"

npids=0
for f in $(find "$VP_DIR/vproc" -name '*.pid'); do
  p=$(cat "$f")
  vp_is_vpid "$p" || vp_fail "$(basename "$f"): recipe shell pid '$p' is not virtual"
  npids=$((npids + 1))
done
vp_expect_eq "$npids" 13 "13 recipe shells recorded their pid"
vp_expect_eq "$(cat $(find "$VP_DIR/vproc" -name '*.pid') | sort -u | wc -l)" 13 "all 13 recorded pids are distinct"
vp_pass
