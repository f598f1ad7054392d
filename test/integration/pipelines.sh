#!/bin/bash
# sort and gzip pipelines under vproc-run produce byte-identical output to the
# same pipelines run natively (coreutils, gzip, a few MB of data, sort with
# helper threads and temp files).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup

seq 1 300000 | awk '{ printf "%08x line %d\n", ($1 * 2654435761) % 4294967296, $1 }' >"$VP_DIR/input.txt"

run_pipeline() { # NAME COMMAND
  vp_compare_native_vproc "$1" sh -c "$2"
  [ "$VP_RC" = 0 ] || vp_fail "$1: the pipeline failed ($VP_RC): $(tail -n 5 "$VP_DIR/$1.vproc.err")"
  [ -s "$VP_DIR/$1.vproc" ] || vp_fail "$1: the pipeline printed nothing"
  vp_note "ok: $1: $(wc -c <"$VP_DIR/$1.vproc") bytes, byte-identical to native"
}

in="$VP_DIR/input.txt"
run_pipeline sort_gzip "sort '$in' | gzip -n -c"
run_pipeline gzip_roundtrip "gzip -n -c '$in' | gzip -d -c | sort -r | uniq | md5sum"
run_pipeline sort_parallel "sort --parallel=2 -S 1M -T '$TMPDIR' -k3,3n '$in' | tail -n 1000"
run_pipeline cut_tr_wc "cut -d' ' -f1 '$in' | tr a-f A-F | sort | uniq -c | sort -rn | head -n 20; wc -l < '$in'"
vp_pass
