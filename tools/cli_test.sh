#!/usr/bin/env bash
# End-to-end test of vproc-run and vproc against a private vprocd:
#   cli_test.sh BUILD_DIR
# Every check prints "ok" or "FAIL"; the exit status is 1 if any failed.
set -u

build=${1:?usage: cli_test.sh BUILD_DIR}
bin=$build/bin
tmp=$(mktemp -d /tmp/vproc-cli-test.XXXXXX)
failures=0
bg_pid=
unset VPROC_LIB   # the tools must find the build tree's library by themselves

source "$(dirname "$0")/../scripts/lib/daemon.sh"   # stop_daemon
cleanup() {
  [[ -n $bg_pid ]] && kill -KILL "$bg_pid" 2>/dev/null
  stop_daemon "$tmp/vprocd.pid"
  stop_daemon "$tmp/auto.pid"
  rm -rf "$tmp"
}
trap cleanup EXIT

pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }

# check NAME EXPECTED_STATUS EXPECTED_STDERR_SUBSTRING -- COMMAND...
# Runs COMMAND (10 s at most) and checks its exit status and stderr.
check() {
  local name=$1 want=$2 want_err=$3
  shift 4
  timeout 10 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local got=$?
  if [[ $got != "$want" ]]; then
    fail "$name: exit status $got, expected $want (stderr: $(head -c 300 "$tmp/err"))"
  elif [[ -n $want_err ]] && ! grep -qF -- "$want_err" "$tmp/err"; then
    fail "$name: stderr lacks '$want_err' (got: $(head -c 300 "$tmp/err"))"
  else
    pass "$name"
  fi
}
out_has() {  # NAME TEXT: the last check's stdout contains TEXT
  if grep -qF -- "$2" "$tmp/out"; then pass "$1"; else fail "$1: stdout lacks '$2' (got: $(head -c 300 "$tmp/out"))"; fi
}

# --- vproc-run: what fails before any daemon is involved ---------------------
mkdir "$tmp/dir"
printf '#!/bin/sh\necho hi\n' >"$tmp/noexec"
printf '#!/nonexistent/interpreter\n' >"$tmp/badinterp"
chmod +x "$tmp/badinterp"
printf 'echo "script ran with $1"\n' >"$tmp/noshebang"
chmod +x "$tmp/noshebang"
export VPROC_SOCKET=$tmp/vprocd.sock
check "vproc-run: unknown command -> 127" 127 "vproc-run: no-such-command-xyz: command not found" -- \
  "$bin/vproc-run" no-such-command-xyz
check "vproc-run: missing path -> 127" 127 "vproc-run: $tmp/missing: No such file or directory" -- \
  "$bin/vproc-run" "$tmp/missing"
check "vproc-run: directory -> 126" 126 "vproc-run: $tmp/dir: Is a directory" -- "$bin/vproc-run" "$tmp/dir"
check "vproc-run: not executable -> 126" 126 "vproc-run: $tmp/noexec: Permission denied" -- \
  "$bin/vproc-run" "$tmp/noexec"
check "vproc-run: no program -> 2" 2 "no PROGRAM given" -- "$bin/vproc-run"
check "vproc-run: unknown option -> 2" 2 "unknown option '--frobnicate'" -- "$bin/vproc-run" --frobnicate true
check "vproc-run --help" 0 "" -- "$bin/vproc-run" --help
out_has "vproc-run --help shows usage" "Usage: vproc-run [OPTIONS] [--] PROGRAM [ARGS...]"
check "vproc-run: missing library -> 1" 1 "VPROC_LIB=$tmp/nolib.so: No such file or directory" -- \
  env VPROC_LIB="$tmp/nolib.so" "$bin/vproc-run" true
check "vproc-run --no-start without daemon -> 1" 1 "cannot reach the vproc daemon at $tmp/vprocd.sock" -- \
  "$bin/vproc-run" --no-start true
check "vproc without daemon -> 2" 2 "vproc: cannot reach the vproc daemon at $tmp/vprocd.sock" -- "$bin/vproc" ps

# --- with a daemon ------------------------------------------------------------
if ! timeout 20 "$bin/vprocd" --socket "$tmp/vprocd.sock" --pidfile "$tmp/vprocd.pid" --node clitest; then
  fail "vprocd did not start"
  exit 1
fi
check "vproc status" 0 "" -- "$bin/vproc" status
out_has "status names the node" "node:      clitest"
check "vproc-run true" 0 "" -- "$bin/vproc-run" --no-start true
check "exit status passes through" 7 "" -- "$bin/vproc-run" --no-start sh -c 'exit 7'
check "death by signal passes through" 143 "" -- bash -c "'$bin/vproc-run' --no-start sh -c 'kill -TERM \$\$'; exit \$?"
check "stdin/stdout pass through" 0 "" -- bash -c "echo piped | '$bin/vproc-run' --no-start cat"
out_has "cat saw stdin" "piped"
check "the program's pid is virtual" 0 "" -- "$bin/vproc-run" --no-start sh -c 'echo "pid=$$"'
vp=$(sed -n 's/^pid=//p' "$tmp/out")
if [[ $vp =~ ^[0-9]+$ ]] && ((vp >= 4194304)); then pass "\$\$ = $vp is a vpid"; else fail "\$\$ = '$vp' is not a vpid"; fi
check "script without #! runs via /bin/sh" 0 "" -- "$bin/vproc-run" --no-start "$tmp/noshebang" arg1
out_has "script saw its argument" "script ran with arg1"
check "bad interpreter -> 127" 127 "required file not found" -- "$bin/vproc-run" --no-start "$tmp/badinterp"

# The example programs agree on every pid under vproc (when they are built).
if [[ -x $build/examples/family && -x $build/examples/whoami ]]; then
  check "examples/family under vproc-run" 0 "" -- "$bin/vproc-run" --no-start "$build/examples/family" 3
  out_has "family agreed" "family: OK (13 processes agreed on every pid)"
  check "examples/whoami under vproc-run" 0 "" -- "$bin/vproc-run" --no-start "$build/examples/whoami"
  out_has "whoami is active" "vproc_is_active()        = 1"
fi

# A background program, seen and signalled by vpid.
"$bin/vproc-run" --no-start sleep 60 </dev/null >/dev/null 2>&1 &
bg_pid=$!
vpid=
for _ in $(seq 100); do
  vpid=$("$bin/vproc" ps 2>/dev/null | awk -v p="$bg_pid" '$3 == p { print $1 }')
  [[ -n $vpid ]] && break
  sleep 0.05
done
if [[ -n $vpid ]]; then pass "vproc ps lists the background program (vpid $vpid)"; else fail "vproc ps does not list pid $bg_pid"; fi
check "vproc ps --json" 0 "" -- "$bin/vproc" ps --json
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if any(e["pid"]==int(sys.argv[2]) and e["argv"]==["sleep","60"] for e in d) else 1)' "$tmp/out" "$bg_pid"; then
  pass "JSON is valid and has the program's argv"
else
  fail "JSON is invalid or lacks the program: $(head -c 300 "$tmp/out")"
fi
check "vproc ps --node other is empty" 0 "" -- "$bin/vproc" ps --node no-such-node
if [[ $(wc -l <"$tmp/out") == 1 ]]; then pass "only the header"; else fail "ps --node filtered nothing"; fi
check "vproc ps --threads" 0 "" -- "$bin/vproc" ps --threads
out_has "threads table has TGID" "TGID"
check "vproc kill -0" 0 "" -- "$bin/vproc" kill -0 "$vpid"
check "vproc kill -s TERM" 0 "" -- "$bin/vproc" kill -s TERM "$vpid"
status=0
timeout 10 tail --pid="$bg_pid" -f /dev/null
wait "$bg_pid" || status=$?
bg_pid=
if [[ $status == 143 ]]; then pass "the program died of SIGTERM"; else fail "the program ended with $status, expected 143"; fi
for _ in $(seq 100); do "$bin/vproc" ps | awk -v v="$vpid" '$1 == v { f = 1 } END { exit !f }' || break; sleep 0.05; done
check "killing a gone vpid -> 1" 1 "vproc kill: ($vpid) - No such process" -- "$bin/vproc" kill "$vpid"
check "kill of a real pid -> 1" 1 "vproc kill: (1) - not a virtual PID" -- "$bin/vproc" kill 1
check "kill of garbage -> 1" 1 "failed to parse argument: 'abc'" -- "$bin/vproc" kill abc
check "kill with an unknown signal -> 2" 2 "vproc kill: unknown signal 'FOO'" -- "$bin/vproc" kill -FOO 4194305
check "kill -NUMBER-as-group needs -- -> 2" 2 "for a process group use 'vproc kill -- -4194305'" -- \
  "$bin/vproc" kill -4194305
check "kill without targets -> 2" 2 "no process given" -- "$bin/vproc" kill -9
check "kill -l 9" 0 "" -- "$bin/vproc" kill -l 9
out_has "9 is KILL" "KILL"
check "unknown subcommand -> 2" 2 "vproc: unknown command 'frob'" -- "$bin/vproc" frob
check "ps --help" 0 "" -- "$bin/vproc" ps --help
out_has "ps usage" "Usage: vproc ps"

# A process group by -vpid: a shell leading its own group, with a child.
"$bin/vproc-run" --no-start setsid sh -c 'sleep 60 & wait' </dev/null >/dev/null 2>&1 &
bg_pid=$!
gvpid=
for _ in $(seq 100); do
  gvpid=$("$bin/vproc" ps | awk -v p="$bg_pid" '$3 == p { print $1 }')
  [[ -n $gvpid ]] && "$bin/vproc" ps | grep -q "sleep 60" && break
  sleep 0.05
done
check "vproc kill -- -VPGID signals the group" 0 "" -- "$bin/vproc" kill -- "-$gvpid"
status=0
timeout 10 tail --pid="$bg_pid" -f /dev/null
wait "$bg_pid" || status=$?
bg_pid=
if [[ $status == 143 ]]; then pass "the group leader died of SIGTERM"; else fail "group leader ended with $status, expected 143"; fi

stop_daemon "$tmp/vprocd.pid"
check "vproc status after the daemon stopped -> 2" 2 "cannot reach the vproc daemon" -- "$bin/vproc" status

# --- vproc-run starts a private daemon when none listens ----------------------
export VPROC_SOCKET=$tmp/auto/vprocd.sock
check "vproc-run starts a daemon" 0 "" -- "$bin/vproc-run" sh -c 'echo "pid=$$"'
vp=$(sed -n 's/^pid=//p' "$tmp/out")
if [[ $vp =~ ^[0-9]+$ ]] && ((vp >= 4194304)); then pass "the program got vpid $vp"; else fail "no vpid: '$vp'"; fi
check "the started daemon answers" 0 "" -- "$bin/vproc" status
sed -n 's/^daemon:.*pid \([0-9]*\).*/\1/p' "$tmp/out" >"$tmp/auto.pid"
if [[ -s $tmp/auto.pid ]]; then pass "its pid is $(cat "$tmp/auto.pid")"; else fail "status shows no daemon pid"; fi
stop_daemon "$tmp/auto.pid"

if ((failures)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
