#!/bin/bash
# bash under vproc-run: $$, $!, BASHPID, kill %1 / kill $! / wait $!, statuses
# 143/137/7/3, stop/continue, wait -n, pipelines, subshells, /proc/$$.
# programs/bash_jobs.bash prints relations only; native and vproc output must
# be identical, and every pid it sees under vproc must be virtual.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup
vp_scenario_test bash_jobs bash "$HERE/programs/bash_jobs.bash"
vp_expect_contains "$VP_DIR/bash_jobs.vproc" 'kill $!; wait $!: 143' 'kill $!; wait $! gives 143 under vproc'
vp_pass
