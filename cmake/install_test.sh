#!/usr/bin/env bash
# Installs a build tree into a temporary prefix and builds and runs a consumer
# of it twice: with CMake's find_package(vproc) and with pkg-config.
#   install_test.sh BUILD_DIR
set -euo pipefail

build=$(cd "${1:?usage: install_test.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/vproc-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
for f in bin/vprocd bin/vproc-run bin/vproc include/vproc/vproc.h; do
  [[ -e $prefix/$f ]] || { echo "install_test: $prefix/$f was not installed"; exit 1; }
done
libdir=$(dirname "$(find "$prefix" -name libvproc.so -print -quit)")
[[ -n $libdir ]] || { echo "install_test: libvproc.so was not installed"; exit 1; }

# 1. CMake: find_package(vproc) and the imported target vproc::vproc.
cmake -S "$here/consumer" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" ||
  { cat "$tmp/cmake.log"; exit 1; }
cmake --build "$tmp/cmake-build" >"$tmp/cmake-build.log" || { cat "$tmp/cmake-build.log"; exit 1; }
env -u VPROC_SOCKET "$tmp/cmake-build/consumer" </dev/null 2>/dev/null
echo "install_test: find_package(vproc) consumer built and ran"

# 2. pkg-config: vproc.pc.
export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=$(pkg-config --cflags --libs vproc)
[[ $(pkg-config --modversion vproc) =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "install_test: bad --modversion"; exit 1; }
cc -o "$tmp/pc-consumer" "$here/consumer/consumer.c" $flags -Wl,-rpath,"$libdir"
env -u VPROC_SOCKET "$tmp/pc-consumer" </dev/null 2>/dev/null
echo "install_test: pkg-config consumer ($flags) built and ran"

# 3. The installed vproc-run finds the installed library: with no daemon at the
# socket, the next thing it fails on is the daemon.
"$prefix/bin/vproc-run" --help >/dev/null
rc=0
env -u VPROC_LIB VPROC_SOCKET="$tmp/none.sock" "$prefix/bin/vproc-run" --no-start true 2>"$tmp/run.err" </dev/null || rc=$?
if [[ $rc != 1 ]] || ! grep -q "cannot reach the vproc daemon" "$tmp/run.err"; then
  echo "install_test: the installed vproc-run did not get past finding libvproc.so (status $rc): $(cat "$tmp/run.err")"
  exit 1
fi
echo "install_test: ok"
