# Test harness for vproc's scenario and integration tests. Source it:
#
#   . "$(dirname "$0")/../lib/harness.sh"
#   vp_setup            # temp dir, private daemon, cleanup trap
#   ...
#   vp_pass
#
# Every test gets its own daemon on its own socket in a fresh temp dir, so tests
# run in parallel. Everything that could hang runs under `timeout`, and the EXIT
# trap kills the daemon and every process the test registered.
#
# Where the binaries are (set by ctest, see test/*/CMakeLists.txt):
#   VPROC_BIN_DIR     vprocd, vproc, vproc-run
#   VPROC_LIB_DIR     libvproc.so
#   VPROC_HELPER_DIR  the helper programs of test/integration/helpers
# or, by hand, VPROC_BUILD_DIR=<build dir> for all three.
# Optional: VP_TIMEOUT (seconds per command, default 60), VP_KEEP=1 keeps the
# temp dir, VP_VERBOSE=1 traces.

set -u

VP_TIMEOUT=${VP_TIMEOUT:-60}
VP_NAME=${VP_NAME:-$(basename "${0%.sh}")}
VP_DIR=""
VP_DAEMON_PID=""
VP_PIDS=()
VP_FAILED=0
VP_FIRST_VPID=4194304   # (node 0 + 1) << 22: every vpid is >= this, every real pid below

# --- messages ----------------------------------------------------------------

vp_note() { printf '[%s] %s\n' "$VP_NAME" "$*" >&2; }

# Prints the failure, the daemon log's tail, and exits 1 (the trap cleans up).
vp_fail() {
  VP_FAILED=1
  printf '[%s] FAIL: %s\n' "$VP_NAME" "$*" >&2
  if [ -n "$VP_DIR" ] && [ -s "$VP_DIR/vprocd.log" ]; then
    printf '[%s] --- last lines of the daemon log (%s) ---\n' "$VP_NAME" "$VP_DIR/vprocd.log" >&2
    tail -n 30 "$VP_DIR/vprocd.log" >&2
    printf '[%s] --- end of daemon log ---\n' "$VP_NAME" >&2
  fi
  exit 1
}

vp_pass() {
  printf '[%s] PASS\n' "$VP_NAME" >&2
  exit 0
}

# The test cannot run here (e.g. no permission for namespaces): ctest reports
# it as skipped (SKIP_RETURN_CODE 77 in test/integration/CMakeLists.txt).
vp_skip() {
  printf '[%s] SKIPPED: %s\n' "$VP_NAME" "$*" >&2
  exit 77
}

# vp_expect_eq ACTUAL EXPECTED WHAT
vp_expect_eq() {
  [ "$1" = "$2" ] || vp_fail "$3: expected '$2', got '$1'"
  vp_note "ok: $3"
}

# vp_expect_contains FILE TEXT WHAT
vp_expect_contains() {
  grep -qF -- "$2" "$1" || vp_fail "$3: '$2' not found in: $(head -c 2000 "$1")"
  vp_note "ok: $3"
}

# True if $1 is a number in the virtual range.
vp_is_vpid() {
  case "$1" in '' | *[!0-9]*) return 1 ;; esac
  [ "$1" -ge "$VP_FIRST_VPID" ]
}

# vp_expect_vpid N WHAT
vp_expect_vpid() {
  vp_is_vpid "$1" || vp_fail "$2: '$1' is not a virtual pid (>= $VP_FIRST_VPID)"
  vp_note "ok: $2 ($1 is virtual)"
}

# --- binaries ----------------------------------------------------------------

vp_require_tools() {
  if [ -n "${VPROC_BUILD_DIR:-}" ]; then
    : "${VPROC_BIN_DIR:=$VPROC_BUILD_DIR/bin}" "${VPROC_LIB_DIR:=$VPROC_BUILD_DIR/lib}"
    : "${VPROC_HELPER_DIR:=$VPROC_BUILD_DIR/test/integration}"
  fi
  [ -n "${VPROC_BIN_DIR:-}" ] && [ -n "${VPROC_LIB_DIR:-}" ] ||
    vp_fail "VPROC_BIN_DIR/VPROC_LIB_DIR are not set (ctest sets them; by hand: VPROC_BUILD_DIR=<build dir> $0)"
  : "${VPROC_HELPER_DIR:=$VPROC_BIN_DIR/../test/integration}"
  VPROCD="$VPROC_BIN_DIR/vprocd"
  VPROC="$VPROC_BIN_DIR/vproc"
  VPROC_RUN="$VPROC_BIN_DIR/vproc-run"
  VPROC_LIBRARY="$VPROC_LIB_DIR/libvproc.so"
  local f
  for f in "$VPROCD" "$VPROC" "$VPROC_RUN"; do
    [ -x "$f" ] || vp_fail "missing executable $f (build the vprocd and tools targets)"
  done
  [ -r "$VPROC_LIBRARY" ] || vp_fail "missing $VPROC_LIBRARY (build the vproc target)"
}

# --- temp dir, daemon, cleanup -----------------------------------------------

# Registers a pid to be killed (SIGKILL) at cleanup if still alive.
vp_track_pid() { VP_PIDS+=("$1"); }

vp_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local p
  {
    # (stderr silenced: bash would report each killed job)
    for p in "${VP_PIDS[@]+"${VP_PIDS[@]}"}"; do
      kill -KILL "$p"
    done
    vp_kill_daemon_processes
    vp_kill_environ_processes
    vp_stop_daemon KILL quiet
    for p in "${VP_PIDS[@]+"${VP_PIDS[@]}"}"; do
      wait "$p"
    done
  } 2>/dev/null
  # A daemon started by someone else on our socket (vproc-run autostart): ask it
  # for its pid and stop it too.
  if [ -n "$VP_DIR" ] && [ -S "$VP_DIR/vprocd.sock" ] && [ -x "${VPROC:-}" ]; then
    local other
    other=$(timeout 5 "$VPROC" --socket "$VP_DIR/vprocd.sock" status 2>/dev/null |
      sed -n 's/^daemon: *running, pid \([0-9]*\).*/\1/p')
    if [ -n "$other" ]; then
      vp_note "stopping a daemon the test did not start (pid $other)"
      kill -KILL "$other" 2>/dev/null
    fi
  fi
  if [ -n "$VP_DIR" ] && [ -d "$VP_DIR" ]; then
    if [ "${VP_KEEP:-0}" = 1 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; } || [ "$VP_FAILED" = 1 ]; then
      vp_note "kept temp dir $VP_DIR"
    else
      rm -rf "$VP_DIR"
    fi
  fi
  exit "$rc"
}

# Kills (SIGKILL, by real pid) every process our private daemon still lists:
# stray children of a failed test must not outlive it (they would also keep
# ctest's output pipe open). Only processes whose environment names our socket
# (so never a process that reused a listed pid).
vp_kill_daemon_processes() {
  [ -n "$VP_DAEMON_PID" ] && [ -x "${VPROC:-}" ] || return 0
  local pids
  pids=$(timeout 5 "$VPROC" ps --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
try:
    print(" ".join(str(e["pid"]) for e in json.load(sys.stdin) if not e.get("thread") and e.get("pid")))
except Exception:
    pass' 2>/dev/null)
  local p
  for p in $pids; do
    [ "$p" -gt 1 ] 2>/dev/null && [ "$p" != "$$" ] || continue
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "VPROC_SOCKET=$VPROC_SOCKET" &&
      kill -KILL "$p" 2>/dev/null
  done
  return 0
}

# Kills (SIGKILL) every other process whose environment names our socket:
# what vp_kill_daemon_processes cannot see, e.g. children of a restored process
# that failed to reconnect to the daemon and so forked with real pids.
vp_kill_environ_processes() {
  [ -n "${VPROC_SOCKET:-}" ] && [ -n "$VP_DIR" ] || return 0
  local f p
  for f in $(grep -lzxF "VPROC_SOCKET=$VPROC_SOCKET" /proc/[0-9]*/environ 2>/dev/null); do
    p=${f#/proc/}
    p=${p%/environ}
    [ "$p" != "$$" ] && [ "$p" != "$BASHPID" ] && kill -KILL "$p" 2>/dev/null
  done
  return 0
}

# Creates the temp dir (world-searchable, so tests that drop to nobody can reach
# the socket), exports TMPDIR and VPROC_SOCKET (no daemon yet) and installs the
# cleanup trap.
vp_setup_dir() {
  VP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vproc-test.${VP_NAME//\//-}.XXXXXX") || vp_fail "mktemp failed"
  chmod 755 "$VP_DIR"
  trap vp_cleanup EXIT
  trap 'vp_fail "interrupted"' INT TERM
  mkdir -p "$VP_DIR/tmp" && chmod 1777 "$VP_DIR/tmp"
  export TMPDIR="$VP_DIR/tmp"
  export VPROC_SOCKET="$VP_DIR/vprocd.sock"
  [ "${VP_VERBOSE:-0}" = 1 ] && set -x
  return 0
}

# The usual start of a test: tools, temp dir, a private daemon.
vp_setup() {
  vp_require_tools
  vp_setup_dir
  vp_start_daemon
}

# True while `vproc status` gets an answer from the daemon on our socket.
vp_daemon_answers() {
  timeout 5 "$VPROC" status >/dev/null 2>&1
}

# Starts vprocd in the foreground (as our child) and waits until it answers.
vp_start_daemon() {
  # --idle-exit: should this script be killed before its trap runs, the daemon
  # still goes away on its own.
  "$VPROCD" --foreground --socket "$VPROC_SOCKET" --log "$VP_DIR/vprocd.log" --idle-exit 300 \
    >>"$VP_DIR/vprocd.out" 2>&1 </dev/null &
  VP_DAEMON_PID=$!
  local i
  for i in $(seq 1 100); do
    if vp_daemon_answers; then return 0; fi
    if ! vp_alive "$VP_DAEMON_PID"; then
      wait "$VP_DAEMON_PID" 2>/dev/null
      local st=$?
      VP_DAEMON_PID=""
      vp_fail "vprocd exited with status $st before answering; its output: $(cat "$VP_DIR/vprocd.out")"
    fi
    sleep 0.1
  done
  vp_fail "vprocd (pid $VP_DAEMON_PID) did not answer 'vproc status' within 10 s"
}

# True while process PID exists and has not exited (a zombie has exited).
vp_alive() {
  local st
  st=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# vp_stop_daemon [SIGNAL] [quiet]: stops our daemon (default SIGTERM, then KILL
# after 5 s) and waits for it to exit.
vp_stop_daemon() {
  local sig=${1:-TERM}
  [ -n "$VP_DAEMON_PID" ] || return 0
  kill "-$sig" "$VP_DAEMON_PID" 2>/dev/null
  local i
  for i in $(seq 1 50); do
    vp_alive "$VP_DAEMON_PID" || break
    sleep 0.1
  done
  if vp_alive "$VP_DAEMON_PID"; then
    [ "${2:-}" = quiet ] || vp_note "vprocd did not exit on SIG$sig within 5 s; sending SIGKILL"
    kill -KILL "$VP_DAEMON_PID" 2>/dev/null
  fi
  { wait "$VP_DAEMON_PID"; } 2>/dev/null
  VP_DAEMON_PID=""
}

# --- running commands --------------------------------------------------------
# Each runner stores stdout in the named file, stderr in FILE.err and the exit
# status in VP_RC; never fails by itself.

vp_run_native() {
  local out=$1
  shift
  VP_RC=0
  timeout -k 5 "$VP_TIMEOUT" "$@" >"$out" 2>"$out.err" </dev/null || VP_RC=$?
  [ "$VP_RC" = 124 ] && vp_fail "timed out after ${VP_TIMEOUT}s (natively): $*"
  return 0
}

vp_run_vproc() {
  local out=$1
  shift
  VP_RC=0
  timeout -k 5 "$VP_TIMEOUT" "$VPROC_RUN" --no-start "$@" >"$out" 2>"$out.err" </dev/null || VP_RC=$?
  [ "$VP_RC" = 124 ] && vp_fail "timed out after ${VP_TIMEOUT}s under vproc-run: $*"
  return 0
}

# LD_PRELOAD=libvproc.so directly, VPROC_SOCKET naming our daemon.
vp_run_preload() {
  local out=$1
  shift
  VP_RC=0
  LD_PRELOAD="$VPROC_LIBRARY" timeout -k 5 "$VP_TIMEOUT" "$@" >"$out" 2>"$out.err" </dev/null || VP_RC=$?
  [ "$VP_RC" = 124 ] && vp_fail "timed out after ${VP_TIMEOUT}s with LD_PRELOAD: $*"
  return 0
}

# vp_compare_outputs LABEL_A FILE_A RC_A LABEL_B FILE_B RC_B
vp_compare_outputs() {
  if [ "$3" != "$6" ]; then
    vp_fail "exit status differs: $1 $3, $4 $6
--- $1 stderr:
$(tail -n 20 "$2.err")
--- $4 stderr:
$(tail -n 20 "$5.err")"
  fi
  if ! cmp -s "$2" "$5"; then
    vp_fail "output differs between $1 and $4:
$(diff -u --label "$1" --label "$4" "$2" "$5" | head -n 60)
--- $4 stderr:
$(tail -n 20 "$5.err")"
  fi
}

# vp_check_run LABEL FILE RC: a scenario-style run must exit 0 and print
# EXIT-SUCCESS as its last line; exit 99 means a real pid leaked.
vp_check_run() {
  local label=$1 out=$2 rc=$3
  if [ "$rc" = 99 ]; then
    vp_fail "$label: a real pid leaked (exit 99): $(grep -h 'REAL PID LEAKED' "$out.err" | head -n 3)"
  fi
  if [ "$rc" != 0 ]; then
    local how=""
    [ "$rc" -gt 128 ] && how=" (killed by signal $((rc - 128)): $(kill -l "$((rc - 128))" 2>/dev/null))"
    vp_fail "$label: exit status $rc$how
--- stdout (last lines):
$(tail -n 15 "$out")
--- stderr (last lines):
$(tail -n 15 "$out.err")"
  fi
  [ "$(tail -n 1 "$out")" = EXIT-SUCCESS ] ||
    vp_fail "$label: output does not end with EXIT-SUCCESS; last lines:
$(tail -n 5 "$out")"
}

# vp_scenario_test NAME CMD...: CMD is a scenario-style program (prints
# relations, ends with EXIT-SUCCESS). Runs it natively, then under vproc-run
# with SCENARIO_EXPECT_VIRTUAL=1; both must succeed with identical stdout.
vp_scenario_test() {
  local name=$1
  shift
  vp_run_native "$VP_DIR/$name.native" "$@"
  vp_check_run "$name (native)" "$VP_DIR/$name.native" "$VP_RC"
  SCENARIO_EXPECT_VIRTUAL=1 vp_run_vproc "$VP_DIR/$name.vproc" "$@"
  vp_check_run "$name (vproc)" "$VP_DIR/$name.vproc" "$VP_RC"
  vp_compare_outputs native "$VP_DIR/$name.native" 0 vproc "$VP_DIR/$name.vproc" 0
  vp_note "ok: $name: $(grep -c . "$VP_DIR/$name.vproc") lines, identical natively and under vproc-run"
}

# vp_compare_native_vproc NAME CMD...: runs CMD natively and under vproc-run;
# stdout and exit status must be identical. Leaves the outputs in
# $VP_DIR/NAME.native and $VP_DIR/NAME.vproc.
vp_compare_native_vproc() {
  local name=$1
  shift
  vp_run_native "$VP_DIR/$name.native" "$@"
  local rc_native=$VP_RC
  vp_run_vproc "$VP_DIR/$name.vproc" "$@"
  vp_compare_outputs native "$VP_DIR/$name.native" "$rc_native" vproc "$VP_DIR/$name.vproc" "$VP_RC"
  vp_note "ok: $name: same output and exit status ($VP_RC) natively and under vproc-run"
}

# vp_wait_until TIMEOUT_S WHAT CMD...: polls CMD every 0.1 s until it succeeds.
vp_wait_until() {
  local limit=$1 what=$2
  shift 2
  local i
  for i in $(seq 1 $((limit * 10))); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  vp_fail "timed out after ${limit}s waiting until $what"
}

# A file holds a non-empty first line.
vp_file_ready() { [ -s "$1" ] && [ -n "$(head -n 1 "$1")" ]; }
