#!/bin/bash
# perl under vproc-run: fork, waitpid (specific, -1, WNOHANG), kill, getppid,
# backticks and system().
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/harness.sh"
vp_setup
vp_scenario_test perl_procs perl "$HERE/programs/perl_procs.pl"
vp_pass
