# A cluster of "hosts" on one machine, for multi-node tests and benchmarks.
# Source it (after test/lib/harness.sh and vp_setup_dir, when used by a test):
#
#   . "$HERE/../lib/cluster.sh"
#   cluster_need_namespaces || vp_skip "$CLUSTER_NO_NS_REASON"
#   cluster_up 3                        # hosts h1 h2 h3, a vprocd --cluster on each
#   host_run h1 vproc ps                # runs inside host h1, status passed through
#   host_spawn h3 vproc-run sleep 100 >"$D/out"; job=$HOST_JOB pid=$HOST_PID
#   host_link_down h2                   # h2's cable pulled: silence both ways
#
# Each host (mode "netns", as root) has its own network namespace, joined to
# the others by a veth pair into a bridge that lives in one more namespace (the
# "switch"), so the machine's own network is never touched and nothing is
# named in the root namespace; its own pid namespace (its first process is pid
# 1: real pids collide across hosts as on real machines), uts namespace (host
# name = host name) and mount namespace with private tmpfs on /tmp, /run and
# /dev/shm (so /run/vproc is each host's own), while the repository, the build
# tree and the cluster dir stay visible at the same paths.
#
# Nothing outlives the test: every host hangs off its pid 1, a child of
# `unshare --kill-child` started under `setpriv --pdeathsig KILL`, so when the
# test's shell dies (even by SIGKILL) unshare gets SIGKILL, the host's pid 1
# gets SIGKILL, and the kernel kills the rest of the pid namespace and frees
# its network namespace with its veth. cluster_down (an EXIT trap) does the
# same at once. Hence: call cluster_up in the test's main shell, never in $(...)
# or a pipeline (the hosts would die with that subshell).
#
# Without root or namespaces (mode "local", or CLUSTER_LOCAL=1): the same
# functions, but hosts are daemons on 127.0.0.1 with their own ports, sockets
# and TMPDIRs, without any isolation; host_link_down fails there.
#
# Binaries: $VPROCD/$VPROC/$VPROC_RUN (harness.sh's vp_require_tools), else
# $VPROC_BIN_DIR, else $VPROC_BUILD_DIR/bin. CLUSTER_KEEP: more directories
# that hosts must see when they are under /tmp or /run.

CLUSTER_MODE=""          # netns | local, once cluster_up ran
CLUSTER_DIR=""           # cluster file, key, and a dir per host (logs)
CLUSTER_FILE=""
CLUSTER_KEY=""
CLUSTER_HOSTS=()         # host names in node-index order
CLUSTER_NO_NS_REASON=""  # why cluster_need_namespaces said no
HOST_JOB=""              # host_spawn: our child; `wait $HOST_JOB` = the command's status
HOST_PID=""              # host_spawn: the command's pid inside its host
HOST_PID_OUTER=""        # host_spawn: the same process's pid in our pid namespace
declare -A _CL_INDEX=() _CL_ADDR=() _CL_PORT=() _CL_INIT=() _CL_UNSHARE=() _CL_DAEMON_JOB=()
_CL_SWITCH=""            # pid of the switch namespace's holder
_CL_BRIDGE=""
_CL_JOBS=()              # background jobs to reap at cluster_down
_CL_OWN_DIR=0            # CLUSTER_DIR was made here (else it is in the harness's VP_DIR)
_CL_DAEMON_ARGS=()
_CL_NS_PROBED=""
_CL_HOST_SOCKET=/run/vproc/vprocd.sock

# --- messages and tools --------------------------------------------------------

_cl_note() { printf '[cluster] %s\n' "$*" >&2; }

_cl_fail() {
  if declare -F vp_fail >/dev/null; then vp_fail "cluster: $*"; fi
  printf '[cluster] FAIL: %s\n' "$*" >&2
  exit 1
}

_cl_tools() {
  if [ -n "${VPROC_BUILD_DIR:-}" ]; then
    : "${VPROC_BIN_DIR:=$VPROC_BUILD_DIR/bin}" "${VPROC_LIB_DIR:=$VPROC_BUILD_DIR/lib}"
  fi
  [ -n "${VPROC_BIN_DIR:-}" ] || [ -n "${VPROCD:-}" ] ||
    _cl_fail "set VPROC_BIN_DIR or VPROC_BUILD_DIR (or source harness.sh and call vp_require_tools)"
  : "${VPROCD:=$VPROC_BIN_DIR/vprocd}" "${VPROC:=$VPROC_BIN_DIR/vproc}" "${VPROC_RUN:=$VPROC_BIN_DIR/vproc-run}"
  : "${VPROC_BIN_DIR:=$(dirname "$VPROCD")}"
}

# True if this build's vprocd knows --cluster.
# cluster_test_start: how a test between hosts begins: the tools, its test
# directory ($D), and a skip (exit 77) where there are no namespaces or the
# vprocd has no --cluster.
cluster_test_start() {
  vp_require_tools
  vp_setup_dir
  D=$VP_DIR
  cluster_need_namespaces || vp_skip "$CLUSTER_NO_NS_REASON"
  cluster_daemon_supported || vp_skip "this vprocd has no --cluster"
}

cluster_daemon_supported() {
  _cl_tools
  "$VPROCD" --help 2>&1 | grep -q -- '--cluster'
}

# True if hosts get their own namespaces here (root, unshare works, the tools
# exist); else sets CLUSTER_NO_NS_REASON. CLUSTER_LOCAL=1 says no on purpose.
cluster_need_namespaces() {
  if [ -z "$_CL_NS_PROBED" ]; then
    _CL_NS_PROBED=yes
    local t err
    for t in unshare nsenter setpriv ip mount; do
      command -v "$t" >/dev/null || { CLUSTER_NO_NS_REASON="$t is not installed"; _CL_NS_PROBED=no; }
    done
    if [ "${CLUSTER_LOCAL:-0}" = 1 ]; then
      CLUSTER_NO_NS_REASON="CLUSTER_LOCAL=1"
      _CL_NS_PROBED=no
    elif [ "$(id -u)" != 0 ]; then
      CLUSTER_NO_NS_REASON="network namespaces need root"
      _CL_NS_PROBED=no
    elif [ "$_CL_NS_PROBED" = yes ] &&
      ! err=$(unshare --net --pid --mount --uts --fork /bin/sh -c 'mount -t tmpfs tmpfs /run && ip link set lo up' 2>&1); then
      CLUSTER_NO_NS_REASON="cannot create namespaces here: $err"
      _CL_NS_PROBED=no
    fi
  fi
  [ "$_CL_NS_PROBED" = yes ]
}

# --- where things are ----------------------------------------------------------

_cl_known() { [ -n "${_CL_INDEX[$1]+x}" ] || _cl_fail "no host '$1' (hosts: ${CLUSTER_HOSTS[*]:-none})"; }

host_index() { _cl_known "$1" && echo "${_CL_INDEX[$1]}"; }       # node index, 0-based
host_addr() { _cl_known "$1" && echo "${_CL_ADDR[$1]}"; }         # IP address of its daemon
host_port() { _cl_known "$1" && echo "${_CL_PORT[$1]}"; }         # the daemon's TCP port
host_dir() { _cl_known "$1" && echo "$CLUSTER_DIR/$1"; }          # its logs (outside view)
host_log() { _cl_known "$1" && echo "$CLUSTER_DIR/$1/vprocd.log"; }
# The daemon socket as seen inside the host.
host_socket() {
  _cl_known "$1" || return
  if [ "$CLUSTER_MODE" = netns ]; then echo "$_CL_HOST_SOCKET"; else echo "$CLUSTER_DIR/$1/run/vprocd.sock"; fi
}
# host_path NAME PATH: PATH (absolute) inside host NAME as seen from outside:
# through its pid 1's root in mode netns (its /run, /tmp), PATH itself in mode
# local.
host_path() {
  _cl_known "$1" || return
  if [ "$CLUSTER_MODE" = netns ]; then echo "/proc/${_CL_INIT[$1]}/root$2"; else echo "$2"; fi
}
# The daemon's runtime dir (socket, table, spool) as seen from outside.
host_runtime_dir() { _cl_known "$1" && host_path "$1" "$(dirname "$(host_socket "$1")")"; }

# The directories hosts must still see under their private /tmp, /run,
# /dev/shm: the first path component below those of each kept path.
_cl_keep_roots() {
  local p r rest seen=" " paths=()
  for p in "${BASH_SOURCE[0]%/*}/../.." "$CLUSTER_DIR" "$VPROC_BIN_DIR" "${VPROC_LIB_DIR:-}" \
    "${VPROC_HELPER_DIR:-}" "${VPROC_SCENARIO_DIR:-}" "${VPROCD%/*}" ${CLUSTER_KEEP:-}; do
    [ -n "$p" ] && [ -e "$p" ] && paths+=("$p")
  done
  mapfile -t paths < <(realpath -e -- "${paths[@]}")
  for p in "${paths[@]}"; do
    case $p in
      /dev/shm/*) rest=${p#/dev/shm/} r=/dev/shm/${rest%%/*} ;;
      /tmp/* | /run/*) rest=${p#/*/} r=${p%%/"$rest"}/${rest%%/*} ;;
      *) continue ;;
    esac
    [ "${seen#* "$r" }" = "$seen" ] && { seen="$seen$r "; echo "$r"; }
  done
}

# --- host set-up ---------------------------------------------------------------

# pid 1 of a host (a script in the cluster dir; args: name, veth, address,
# switch pid, ready file, kept dirs): network first (the switch's namespace is still reachable by its pid through
# the old /proc), then the private mounts with the kept dirs bound back (by fd,
# opened before the tmpfs hides them), then its own /proc; then it reaps
# orphans forever (bash's wait reaps any child, adopted ones too).
_CL_HOST_INIT='
name=$1 veth=$2 addr=$3 sw=$4 ready=$5
shift 5
read -r outer _ </proc/self/stat
ip -b - <<EOF || exit 90
link set lo up
link add eth0 type veth peer name $veth netns /proc/$sw/ns/net
addr add $addr/24 dev eth0
link set eth0 up
EOF
i=20
for k in "$@"; do eval "exec $i<\"\$k\"" || exit 91; i=$((i + 1)); done
mount -t tmpfs -o mode=1777 tmpfs /tmp && mount -t tmpfs -o mode=755 tmpfs /run &&
  mount -t tmpfs -o mode=1777 tmpfs /dev/shm || exit 92
mkdir -p /run/vproc "$@" || exit 93
i=20
for k in "$@"; do
  mount --no-canonicalize --bind "/proc/self/fd/$i" "$k" || exit 93
  eval "exec $i<&-"
  i=$((i + 1))
done
mount -t proc proc /proc || exit 94
mount -t sysfs sysfs /sys 2>/dev/null
echo "$name" >/proc/sys/kernel/hostname || exit 95
cd /
echo "$outer" >"$ready"
while :; do sleep 2147483647 & wait; done
'

# The switch: a network namespace holding the bridge every host's veth joins
# (no STP: a port forwards as soon as it is up).
_CL_SWITCH_INIT='
ip -b - <<EOF || exit 90
link set lo up
link add $1 type bridge
link set $1 up
EOF
echo $$ >"$2"
exec sleep 2147483647
'

# _cl_wait_file FILE PID WHAT: waits (10 s) for FILE to be non-empty while PID lives.
_cl_wait_file() {
  local i
  for i in $(seq 1 2000); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.005
  done
  [ -s "$1" ] && return 0
  _cl_fail "$3 did not come up: $(cat "${1%/*}/init.log" 2>/dev/null)"
}

_cl_switch_ip() { nsenter --net="/proc/$_CL_SWITCH/ns/net" ip "$@"; }

_cl_up_netns() {
  local name k keep
  mapfile -t keep < <(_cl_keep_roots)
  mkdir -p "$CLUSTER_DIR/.switch"
  printf '%s' "$_CL_HOST_INIT" >"$CLUSTER_DIR/.host-init.sh"
  setpriv --pdeathsig KILL unshare --net /bin/bash -c "$_CL_SWITCH_INIT" switch "$_CL_BRIDGE" \
    "$CLUSTER_DIR/.switch/init.pid" </dev/null >"$CLUSTER_DIR/.switch/init.log" 2>&1 &
  _CL_SWITCH=$!
  _CL_JOBS+=("$!")
  _cl_wait_file "$CLUSTER_DIR/.switch/init.pid" "$_CL_SWITCH" "the switch namespace"
  for name in "${CLUSTER_HOSTS[@]}"; do
    setpriv --pdeathsig KILL unshare --net --pid --mount --uts --fork --kill-child \
      /bin/bash "$CLUSTER_DIR/.host-init.sh" "$name" "v${_CL_INDEX[$name]}" "${_CL_ADDR[$name]}" \
      "$_CL_SWITCH" "$CLUSTER_DIR/$name/init.pid" "${keep[@]}" </dev/null >"$CLUSTER_DIR/$name/init.log" 2>&1 &
    _CL_UNSHARE[$name]=$!
    _CL_JOBS+=("$!")
  done
  local batch=""
  for name in "${CLUSTER_HOSTS[@]}"; do
    _cl_wait_file "$CLUSTER_DIR/$name/init.pid" "${_CL_UNSHARE[$name]}" "host $name"
    _CL_INIT[$name]=$(<"$CLUSTER_DIR/$name/init.pid")
    batch+="link set v${_CL_INDEX[$name]} master $_CL_BRIDGE up"$'\n'
  done
  _cl_switch_ip -b - <<<"$batch" || _cl_fail "cannot attach the hosts' veths to the bridge"
}

_cl_free_ports() {  # N: prints N TCP ports free on 127.0.0.1 right now
  /usr/bin/python3 - "$1" <<'PY' 2>/dev/null && return 0
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
  local i
  for i in $(seq 1 "$1"); do echo $((20000 + (RANDOM * 7 + i) % 30000)); done
}

# --- daemons -------------------------------------------------------------------

# How to enter a host: host_enter (test/integration/helpers: passes signals on,
# never stops itself), else nsenter (which stops itself when the program stops
# and stays stopped until continued: avoid SIGSTOP with it).
_cl_enter_cmd() {
  local h=${VPROC_HELPER_DIR:-$VPROC_BIN_DIR/../test/integration}/host_enter
  if [ -x "$h" ]; then
    _CL_ENTER=("$h" "${_CL_INIT[$1]}")
  else
    _CL_ENTER=(nsenter -t "${_CL_INIT[$1]}" --uts --net --pid --mount --wd=. --)
  fi
}

# host_run NAME CMD...: runs the program CMD inside host NAME (its network, pid,
# mount and uts namespaces; current directory kept) with VPROC_SOCKET naming the
# host's daemon, TMPDIR=/tmp (the host's own) and the build's bin dir first in
# PATH. stdin/stdout/stderr pass through; returns CMD's exit status (128+N if
# a signal N killed it). CMD is a program, not a shell function.
host_run() {
  _cl_known "$1" || return
  local name=$1
  shift
  if [ "$CLUSTER_MODE" = netns ]; then
    _cl_enter_cmd "$name"
    VPROC_SOCKET=$_CL_HOST_SOCKET TMPDIR=/tmp PATH="$VPROC_BIN_DIR:$PATH" "${_CL_ENTER[@]}" "$@"
  else
    VPROC_SOCKET=$CLUSTER_DIR/$name/run/vprocd.sock TMPDIR=$CLUSTER_DIR/$name/tmp PATH="$VPROC_BIN_DIR:$PATH" "$@"
  fi
}

# host_spawn NAME CMD...: host_run in the background (stdin /dev/null unless
# redirected; redirect its output as usual). Sets HOST_JOB (our child: `wait
# $HOST_JOB` gives CMD's exit status; `kill $HOST_JOB` signals CMD too, except
# SIGKILL/SIGSTOP), HOST_PID (CMD's pid inside the host, as `vproc ps` there
# lists it) and HOST_PID_OUTER (its pid here, e.g. for kill from outside); the
# pids are empty if CMD ended before they could be read. Not in $(...): see
# the top.
host_spawn() {
  _cl_known "$1" || return
  local name=$1
  shift
  HOST_PID="" HOST_PID_OUTER=""
  if [ "$CLUSTER_MODE" = netns ]; then
    _cl_enter_cmd "$name"
    VPROC_SOCKET=$_CL_HOST_SOCKET TMPDIR=/tmp PATH="$VPROC_BIN_DIR:$PATH" "${_CL_ENTER[@]}" "$@" &
    HOST_JOB=$!
    _CL_JOBS+=("$HOST_JOB")
    # Entering a pid namespace needs a fork: find the child.
    local i c="" ns
    for i in $(seq 1 1000); do
      read -r c _ 2>/dev/null <"/proc/$HOST_JOB/task/$HOST_JOB/children"
      [ -n "$c" ] && break
      kill -0 "$HOST_JOB" 2>/dev/null || return 0
      sleep 0.002
    done
    [ -n "$c" ] || return 0
    # "NSpid: <pid here> <pid in the host>"
    local key outer inner
    while read -r key outer inner _; do
      [ "$key" = NSpid: ] && [ -n "$inner" ] && HOST_PID_OUTER=$c HOST_PID=$inner
    done 2>/dev/null <"/proc/$c/status"
  else
    VPROC_SOCKET=$CLUSTER_DIR/$name/run/vprocd.sock TMPDIR=$CLUSTER_DIR/$name/tmp PATH="$VPROC_BIN_DIR:$PATH" "$@" &
    HOST_JOB=$!
    _CL_JOBS+=("$HOST_JOB")
    HOST_PID=$HOST_JOB HOST_PID_OUTER=$HOST_JOB
  fi
}

_cl_start_daemon() {
  local name=$1 sock job=$HOST_JOB pid=$HOST_PID outer=$HOST_PID_OUTER
  sock=$(host_socket "$name")
  host_spawn "$name" "$VPROCD" --cluster "$CLUSTER_FILE" --node "$name" --socket "$sock" --foreground \
    --log "$CLUSTER_DIR/$name/vprocd.log" "${_CL_DAEMON_ARGS[@]+"${_CL_DAEMON_ARGS[@]}"}" \
    </dev/null >>"$CLUSTER_DIR/$name/vprocd.out" 2>&1
  _CL_DAEMON_JOB[$name]=$HOST_JOB
  HOST_JOB=$job HOST_PID=$pid HOST_PID_OUTER=$outer
}

# The daemon's pid in our pid namespace ("" if it is not running).
_cl_daemon_pid() {
  local j=${_CL_DAEMON_JOB[$1]:-} c=""
  [ -n "$j" ] && kill -0 "$j" 2>/dev/null || return 0
  if [ "$CLUSTER_MODE" = netns ]; then
    read -r c _ 2>/dev/null <"/proc/$j/task/$j/children"
    echo "$c"
  else
    echo "$j"
  fi
}

# Waits (10 s) until host NAME's daemon answers `vproc status` there.
_cl_wait_daemon() {
  local name=$1 i sock j=${_CL_DAEMON_JOB[$1]}
  sock=$(host_path "$name" "$(host_socket "$name")")
  for i in $(seq 1 1000); do
    if [ -S "$sock" ] && host_run "$name" "$VPROC" status >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$j" 2>/dev/null; then
      wait "$j" 2>/dev/null
      _cl_fail "vprocd on $name exited with status $? before answering: $(tail -n 20 "$CLUSTER_DIR/$name/vprocd.out" "$CLUSTER_DIR/$name/vprocd.log" 2>/dev/null)"
    fi
    sleep 0.01
  done
  _cl_fail "vprocd on $name did not answer 'vproc status' within 10 s"
}

# host_daemon_kill NAME [SIG]: signals host NAME's daemon (default KILL); for
# KILL, TERM, INT and QUIT waits until it is gone (KILL after 5 s).
host_daemon_kill() {
  _cl_known "$1" || return
  local name=$1 sig=${2:-KILL} pid j=${_CL_DAEMON_JOB[$1]:-}
  sig=${sig#SIG}
  pid=$(_cl_daemon_pid "$name")
  [ -n "$pid" ] || { _cl_note "host $name: no daemon running"; return 1; }
  kill "-$sig" "$pid" || return 1
  case $sig in KILL | TERM | INT | QUIT | 9 | 15 | 2 | 3) ;; *) return 0 ;; esac
  local i
  {
    # (stderr silenced: bash would report the killed job)
    for i in $(seq 1 500); do
      kill -0 "$j" || break
      sleep 0.01
    done
    kill -0 "$j" && kill -KILL "$pid"
    wait "$j"
  } 2>/dev/null
  _CL_DAEMON_JOB[$name]=""
  return 0
}

# host_daemon_restart NAME: stops host NAME's daemon (TERM, then KILL) if it
# runs, starts it again with the same arguments and waits until it answers.
host_daemon_restart() {
  _cl_known "$1" || return
  [ -n "$(_cl_daemon_pid "$1")" ] && host_daemon_kill "$1" TERM
  _cl_start_daemon "$1"
  _cl_wait_daemon "$1"
}

# --- network faults ------------------------------------------------------------

# host_link_down NAME / host_link_up NAME: takes the switch's end of host
# NAME's veth down (up): like pulling the cable, the host and its peers see
# silence (connections hang, new ones time out), nothing is refused.
host_link_down() { _cl_link "$1" down; }
host_link_up() { _cl_link "$1" up; }

_cl_link() {
  _cl_known "$1" || return
  [ "$CLUSTER_MODE" = netns ] || { _cl_note "host_link_$2 needs network namespaces (cluster_need_namespaces)"; return 2; }
  _cl_switch_ip link set "v${_CL_INDEX[$1]}" "$2"
}

# --- up and down ---------------------------------------------------------------

# cluster_up N [--names "A B ..."] [--no-daemons] [--port P] [--daemon-arg ARG]...
#            [--local]
# Creates N hosts (h1..hN unless named), writes $CLUSTER_FILE (node index =
# position) and its 0600 key, starts `vprocd --cluster FILE --node NAME
# --socket SOCK --foreground --log LOG [ARG...]` in each (host_log NAME) and
# waits until all answer `vproc status`. --port: the daemons' port in mode
# netns (default 7400; mode local picks free ports). --local: mode local even
# as root.
cluster_up() {
  local n=${1:-} names="" daemons=1 port=7400 local_mode=0
  [ -n "$CLUSTER_MODE" ] && _cl_fail "cluster_up: a cluster is already up"
  case $n in '' | *[!0-9]*) _cl_fail "cluster_up: N must be a number of hosts, got '$n'" ;; esac
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --names) names=$2; shift ;;
      --no-daemons) daemons=0 ;;
      --port) port=$2; shift ;;
      --daemon-arg) _CL_DAEMON_ARGS+=("$2"); shift ;;
      --local) local_mode=1 ;;
      *) _cl_fail "cluster_up: unknown option '$1'" ;;
    esac
    shift
  done
  [ "$n" -ge 1 ] && [ "$n" -le 250 ] || _cl_fail "cluster_up: N must be 1 to 250, got $n"
  _cl_tools
  if [ -n "$names" ]; then
    read -r -a CLUSTER_HOSTS <<<"${names//,/ }"
    [ "${#CLUSTER_HOSTS[@]}" = "$n" ] || _cl_fail "cluster_up: $n hosts but ${#CLUSTER_HOSTS[@]} names: $names"
  else
    local k
    CLUSTER_HOSTS=()
    for k in $(seq 1 "$n"); do CLUSTER_HOSTS+=("h$k"); done
  fi
  if [ "$daemons" = 1 ] && ! cluster_daemon_supported; then
    _cl_fail "cluster_up: $VPROCD has no --cluster option (use --no-daemons, or build the cluster daemon)"
  fi
  if [ "$local_mode" = 0 ] && cluster_need_namespaces; then CLUSTER_MODE=netns; else CLUSTER_MODE=local; fi

  if [ -n "${VP_DIR:-}" ] && [ -d "$VP_DIR" ]; then
    CLUSTER_DIR=$VP_DIR/cluster
    mkdir -p "$CLUSTER_DIR" || _cl_fail "cannot create $CLUSTER_DIR"
  else
    CLUSTER_DIR=$(mktemp -d /tmp/vproc-cluster.XXXXXX) || _cl_fail "mktemp failed"
    _CL_OWN_DIR=1
  fi
  chmod 755 "$CLUSTER_DIR"
  trap '_cl_exit_trap' EXIT
  declare -F vp_fail >/dev/null || trap 'exit 130' INT TERM

  # A subnet and bridge name of this run's own (the namespaces already keep
  # runs apart; distinct numbers make logs of parallel runs easy to tell).
  local h=$(($$ * 2654435761 % 4294967291)) name i=0 ports=()
  _CL_BRIDGE=vpbr$((h % 100000))
  if [ "$CLUSTER_MODE" = local ]; then mapfile -t ports < <(_cl_free_ports "$n"); fi
  CLUSTER_KEY=$CLUSTER_DIR/cluster.key
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$CLUSTER_KEY") ||
    _cl_fail "cannot write $CLUSTER_KEY"
  CLUSTER_FILE=$CLUSTER_DIR/cluster.conf
  {
    echo "# test cluster ($CLUSTER_MODE mode) written by test/lib/cluster.sh"
    echo "secret cluster.key"
    for name in "${CLUSTER_HOSTS[@]}"; do
      [[ $name =~ ^[A-Za-z0-9._-]{1,63}$ ]] || _cl_fail "cluster_up: bad host name '$name'"
      [ -z "${_CL_INDEX[$name]+x}" ] || _cl_fail "cluster_up: host name '$name' given twice"
      _CL_INDEX[$name]=$i
      if [ "$CLUSTER_MODE" = netns ]; then
        _CL_ADDR[$name]=10.$((h / 256 % 200 + 20)).$((h % 256)).$((i + 1))
        _CL_PORT[$name]=$port
      else
        _CL_ADDR[$name]=127.0.0.1
        _CL_PORT[$name]=${ports[$i]}
      fi
      echo "$name ${_CL_ADDR[$name]}:${_CL_PORT[$name]}"
      mkdir -p "$CLUSTER_DIR/$name/run" "$CLUSTER_DIR/$name/tmp"
      i=$((i + 1))
    done
  } >"$CLUSTER_FILE"

  if [ "$CLUSTER_MODE" = netns ]; then _cl_up_netns; fi
  if [ "$daemons" = 1 ]; then
    for name in "${CLUSTER_HOSTS[@]}"; do _cl_start_daemon "$name"; done
    for name in "${CLUSTER_HOSTS[@]}"; do _cl_wait_daemon "$name"; done
  fi
  return 0
}

_cl_tail_logs() {
  local name f
  for name in "${CLUSTER_HOSTS[@]}"; do
    for f in init.log vprocd.out vprocd.log; do
      [ -s "$CLUSTER_DIR/$name/$f" ] || continue
      printf '[cluster] --- host %s: last lines of %s ---\n' "$name" "$CLUSTER_DIR/$name/$f" >&2
      tail -n 15 "$CLUSTER_DIR/$name/$f" >&2
    done
  done
}

# cluster_down [RC]: kills every host (so every process in it) and the switch,
# which frees their namespaces, veths and bridge; reaps our jobs. With a
# failure status RC, prints the tails of the hosts' logs first. Idempotent;
# cluster_up may follow. (CLUSTER_DIR stays for inspection.)
cluster_down() {
  local rc=${1:-0} p
  [ -n "$CLUSTER_MODE" ] || return 0
  if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then _cl_tail_logs; fi
  # Our jobs still running (pids bash has not reaped: safe to signal).
  local live=() running=" $(jobs -p | tr '\n' ' ') "
  for p in "${_CL_JOBS[@]+"${_CL_JOBS[@]}"}"; do
    [ "${running#* "$p" }" != "$running" ] && live+=("$p")
  done
  {
    if [ "$CLUSTER_MODE" = netns ]; then
      # A host's pid 1 is alive while its unshare is (--kill-child).
      local name
      for name in "${CLUSTER_HOSTS[@]}"; do
        p=${_CL_UNSHARE[$name]:-x}
        [ "${running#* "$p" }" != "$running" ] && [ -n "${_CL_INIT[$name]:-}" ] && kill -KILL "${_CL_INIT[$name]}"
      done
    fi
    for p in "${live[@]+"${live[@]}"}"; do kill -KILL "$p"; done
    if [ "$CLUSTER_MODE" = local ]; then
      # What vproc-run started in a host: its environment names a socket in
      # the cluster dir.
      local f
      for f in $(grep -lzF "VPROC_SOCKET=$CLUSTER_DIR/" /proc/[0-9]*/environ); do
        p=${f#/proc/}
        p=${p%/environ}
        [ "$p" != "$$" ] && [ "$p" != "$BASHPID" ] && kill -KILL "$p"
      done
    fi
    for p in "${live[@]+"${live[@]}"}"; do wait "$p"; done
  } 2>/dev/null
  CLUSTER_MODE=""
  _CL_JOBS=() _CL_DAEMON_ARGS=() _CL_INDEX=() _CL_ADDR=() _CL_PORT=() _CL_INIT=() _CL_UNSHARE=() _CL_DAEMON_JOB=()
  if [ "$_CL_OWN_DIR" = 1 ]; then
    if [ "$rc" = 0 ] || [ "$rc" = 77 ] && [ "${VP_KEEP:-0}" != 1 ]; then rm -rf "$CLUSTER_DIR"; else _cl_note "kept $CLUSTER_DIR"; fi
  fi
  return 0
}

_cl_set_rc() { return "$1"; }

_cl_exit_trap() {
  local rc=$?
  cluster_down "$rc"
  if declare -F vp_cleanup >/dev/null && [ -n "${VP_DIR:-}" ]; then
    _cl_set_rc "$rc"
    vp_cleanup
  fi
  exit "$rc"
}
