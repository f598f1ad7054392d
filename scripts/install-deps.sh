#!/usr/bin/env bash
# Installs the Debian 12 packages vproc needs to build, test and run its demo,
# and nothing that is already there (idempotent: a second run does nothing).
# As non-root with packages missing it prints the command to run and exits 1.
set -euo pipefail

packages=(build-essential cmake pkg-config capnproto libcapnp-dev libev-dev libxxhash-dev libunwind-dev
          libsodium-dev catch2 iproute2 python3 perl sqlite3 make gzip util-linux procps)

if ! command -v dpkg-query >/dev/null; then
  echo "install-deps: dpkg-query not found; this script is for Debian 12. Install by hand: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true) == installed ]] || missing+=("$p")
done

# The Cap'n Proto runtime inside libvproc.so: Debian ships libkj.a without -fPIC,
# so the preload library builds the same version (0.9.2) from Debian's source
# package into itself (see libvproc/CMakeLists.txt). Without it the build links
# the shared libcapnp instead, which costs every process under vproc startup
# and fork time. Fetched once into .deps/ (not tracked by git).
fetch_capnp_source() {
  local repo deps version dir lists
  repo=$(cd "$(dirname "$0")/.." && pwd)
  deps=$repo/.deps
  version=$(dpkg-query -W -f='${source:Upstream-Version}' libcapnp-dev 2>/dev/null || true)
  [[ -n $version ]] || return 0
  dir=$deps/capnproto-c++-$version
  [[ -f $dir/src/capnp/layout.c++ ]] && return 0
  mkdir -p "$deps/apt/lists/partial" "$deps/apt/sources"
  # A private deb-src list: the machine's own apt configuration is left alone.
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    >"$deps/apt/sources/deb-src.sources"
  local opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$deps/apt/sources"
              -o "Dir::State::Lists=$deps/apt/lists" -o APT::Sandbox::User=root)
  if (cd "$deps" && apt-get "${opts[@]}" update >/dev/null </dev/null &&
      apt-get "${opts[@]}" source --download-only "capnproto=$(dpkg-query -W -f='${Version}' libcapnp-dev)" >/dev/null </dev/null &&
      tar xzf "capnproto_${version}.orig.tar.gz"); then
    echo "install-deps: Cap'n Proto $version source in $dir"
  else
    echo "install-deps: could not fetch the capnproto source package; libvproc will use the shared libcapnp (slower fork/startup)" >&2
  fi
}

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} required packages are installed"
  fetch_capnp_source
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if ((EUID != 0)); then
  echo "install-deps: run as root, or run:" >&2
  echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update </dev/null
apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
echo "install-deps: installed ${missing[*]}"
fetch_capnp_source
