#!/bin/bash
# A migration is refused before the process is touched when the target lacks
# a file the process uses (docs/cluster.md, "Files"): its program (a copy in
# h1's private /tmp) or a file it has open. The process runs on at h1 with
# the same real pid, never checkpointed; once h2 has the file, the migration
# goes through. --embed-files takes mapped files along instead.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
. "$HERE/../lib/cluster.sh"
cluster_test_start

cluster_up 2
# Each host has its own /tmp: this directory exists on h1 only (for now).
X=/tmp/vproc-migfiles
host_run h1 sh -c "mkdir -p $X && cp /bin/sleep $X/sleep && echo data >$X/data" || vp_fail "cannot prepare h1's $X"

real_of() {  # host vpid -> the real pid `vproc ps` shows
  host_run "$1" "$VPROC" ps 2>/dev/null | awk -v v="$2" '$1 == v {print $3}'
}
vpid_of() {  # host pattern
  host_run "$1" "$VPROC" ps 2>/dev/null | awk -v p="$2" '$0 ~ p {print $1; exit}'
}
migrate() {  # args...
  host_run h1 "$VPROC" migrate "$@" >"$D/migrate.out" 2>&1
  local rc=$?
  vp_note "migrate $*: $(tr '\n' '|' <"$D/migrate.out") (rc $rc)"
  return $rc
}
runs() { [ -n "$(vpid_of "$@")" ]; }

# 1. The program itself is missing on h2.
host_spawn h1 "$VPROC_RUN" "$X/sleep" 60 </dev/null >/dev/null 2>&1 251>&-
job1=$HOST_JOB
vp_wait_until 10 "the copied sleep runs on h1" runs h1 "$X/sleep"
V1=$(vpid_of h1 "$X/sleep")
R1=$(real_of h1 "$V1")
migrate "$V1" h2 && vp_fail "migrating a process whose program h2 lacks succeeded"
vp_expect_contains "$D/migrate.out" "h2 does not have the files vpid $V1 uses" "the refusal names the target"
vp_expect_contains "$D/migrate.out" "$X/sleep: missing" "the refusal names the missing program"
vp_expect_contains "$D/migrate.out" "--embed-files" "the refusal mentions --embed-files"
vp_expect_eq "$(real_of h1 "$V1")" "$R1" "the process still runs on h1 as the same real pid"
vp_expect_eq "$(host_run h1 "$VPROC" ps 2>/dev/null | awk -v v="$V1" '$1 == v {print $2}')" h1 "vproc ps shows it on h1"

# 2. A file it has open is missing on h2; then h2 gets it.
host_spawn h1 "$VPROC_RUN" /usr/bin/python3 -c "
import sys, time
f = open('$X/data')
print('opened', flush=True)
time.sleep(2)
print(f.read().strip(), flush=True)
" </dev/null >"$D/py.out" 2>"$D/py.err" 251>&-
job2=$HOST_JOB
vp_wait_until 10 "the python reader runs" grep -q opened "$D/py.out"
V2=$(vpid_of h1 python3)
migrate "$V2" h2 && vp_fail "migrating a process with an open file h2 lacks succeeded"
vp_expect_contains "$D/migrate.out" "$X/data (open file): missing" "the refusal names the open file"
host_run h2 sh -c "mkdir -p $X && echo data >$X/data" || vp_fail "cannot give h2 the file"
migrate "$V2" h2 || vp_fail "the migration failed once h2 has the file: $(cat "$D/migrate.out")"
wait "$job2"
vp_expect_eq "$?" 0 "the migrated reader exits 0"
vp_expect_eq "$(cat "$D/py.out")" "opened
data" "the migrated reader read its file on h2"

# 3. With --embed-files the program goes along in the image.
migrate --embed-files "$V1" h2 || vp_fail "--embed-files did not take the program along: $(cat "$D/migrate.out")"
vp_expect_eq "$(host_run h2 "$VPROC" ps 2>/dev/null | awk -v v="$V1" '$1 == v {print $2}')" h2 "it runs on h2 now"
host_run h2 "$VPROC" kill -TERM "$V1"
wait "$job1"
vp_expect_eq "$?" 143 "the parent sees the migrated sleep die of SIGTERM"
vp_pass
