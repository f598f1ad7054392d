# Shell helpers for scripts that start their own vprocd (sourced, not run).

# wait_gone PID: waits up to 5 s for PID to exit; false if it is still there.
wait_gone() {
  local _
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
  return 1
}

# stop_daemon PIDFILE: stops the vprocd whose pid the file holds: SIGTERM (it
# removes its socket and pidfile), SIGKILL if it is still there after 5 s.
# Succeeds quietly when there is none.
stop_daemon() {
  [[ -s $1 ]] || return 0
  local pid
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || return 0
  wait_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
}
