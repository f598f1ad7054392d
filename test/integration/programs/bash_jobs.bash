# Job control and pid variables in bash. Run natively and under vproc-run; the
# output must be identical. With SCENARIO_EXPECT_VIRTUAL=1 every pid bash
# reports must be virtual (>= 2^22), else exit 99.
set -u
ev=${SCENARIO_EXPECT_VIRTUAL:-0}
fail() { echo "FAILED: $*"; echo "FAILED: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
pid_seen() { # NAME VALUE
  case $2 in '' | *[!0-9]*) fail "$1 is not a pid: '$2'" ;; esac
  if [ "$ev" = 1 ] && [ "$2" -lt 4194304 ]; then
    echo "REAL PID LEAKED: $1 = $2" >&2
    exit 99
  fi
}

pid_seen '$$' "$$"
pid_seen 'BASHPID' "$BASHPID"
[ "$BASHPID" = "$$" ] && ok 'BASHPID == $$ in the main shell'

# kill %1, then wait with no argument (always 0), then wait for that pid.
sleep 30 &
p=$!
pid_seen '$!' "$p"
[ "$(jobs -p)" = "$p" ] && ok 'jobs -p names $!'
kill -0 "$p" && ok 'kill -0 $! on the running job'
kill %1
wait
echo "wait (no argument) after kill %1: $?"
wait "$p"
echo "wait \$! after kill %1: $?"
kill -0 "$p" 2>/dev/null || ok 'kill -0 $! after it was reaped fails'

sleep 30 &
p=$!
kill "$p"
wait "$p"
echo "kill \$!; wait \$!: $?"

sleep 30 &
kill %1
wait %1
echo "kill %1; wait %1: $?"

sleep 30 &
p=$!
kill -KILL "$p"
wait "$p"
echo "kill -KILL \$!; wait \$!: $?"

(exit 7) &
wait $!
echo "subshell exit 7 in the background: $?"
sh -c 'exit 3' &
wait $!
echo "sh -c 'exit 3' in the background: $?"

# Stop and continue a job; wait -n.
sleep 30 &
p=$!
kill -STOP "$p"
kill -CONT "$p"
kill -0 "$p" && ok 'stopped and continued job still alive'
(sleep 0.2; exit 4) &
wait -n
echo "wait -n: $?"
kill "$p"
wait "$p"
echo "then the continued job, killed: $?"

# Pipelines.
echo "pipeline: $(echo hello world | tr a-z A-Z | sed 's/WORLD/THERE/')"
true | false | (exit 5)
echo "PIPESTATUS: ${PIPESTATUS[*]}"
n=$(seq 1 1000 | sort -rn | head -n 3 | tr '\n' ' ')
echo "sorted pipeline: $n"

# Subshells: their own BASHPID, the same $$.
sub=$( echo "$BASHPID $$" )
set -- $sub
pid_seen 'BASHPID in $( )' "$1"
[ "$1" != "$$" ] && ok 'a command substitution has its own BASHPID'
[ "$2" = "$$" ] && ok 'and the same $$'
( pid_seen 'BASHPID in ( )' "$BASHPID"; [ "$BASHPID" != "$$" ] && echo "ok: ( echo \$BASHPID ) differs from \$\$" )

# A child shell sees us as its parent; /proc/$$/status agrees with $$.
child_ppid=$(bash -c 'echo $PPID')
pid_seen 'child PPID' "$child_ppid"
[ "$child_ppid" = "$$" ] && ok 'a child bash sees $PPID == our $$'
status_pid=$(awk '/^Pid:/ {print $2}' /proc/$$/status)
[ "$status_pid" = "$$" ] && ok '/proc/$$/status Pid: equals $$ (read by awk)'
[ -d /proc/$$ ] && ok '/proc/$$ exists'
self=$(readlink /proc/self)    # readlink's own pid
pid_seen 'readlink /proc/self' "$self"
[ "$self" != "$$" ] && ok 'readlink /proc/self names the readlink process, not the shell'

# Many short-lived children in a row.
for i in $(seq 1 50); do
  (exit $((i % 7))) &
  wait $! || [ $? = $((i % 7)) ] || fail "child $i exit status"
done
ok '50 background children reaped with the right statuses'
echo EXIT-SUCCESS
