#!/usr/bin/env bash
# Builds vproc in <repo>/build (RelWithDebInfo) and runs every test with ctest.
# The exit status is ctest's, and its summary is the last thing printed.
# Works unattended (CI=true, no stdin); needs root only if packages are missing.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/build

"$repo/scripts/install-deps.sh"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo </dev/null
cmake --build "$build" -j2 </dev/null
cd "$repo"
exec ctest --test-dir build --output-on-failure -j2 </dev/null
