#!/bin/bash
# /usr/bin/python3 under vproc-run: os.fork/kill/waitpid/getppid, WEXITSTATUS and
# WTERMSIG, multiprocessing.Pool(2).map, subprocess.run returncodes.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup
vp_scenario_test python_procs /usr/bin/python3 "$HERE/programs/python_procs.py"
vp_pass
