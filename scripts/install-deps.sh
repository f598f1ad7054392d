#!/usr/bin/env bash
# Installs the Debian 12 packages vproc needs to build, test and run its demo,
# and nothing that is already there (idempotent: a second run does nothing).
# As non-root with packages missing it prints the command to run and exits 1.
set -euo pipefail

packages=(build-essential cmake pkg-config capnproto libcapnp-dev libev-dev libxxhash-dev libunwind-dev
          catch2 iproute2 python3 perl sqlite3 make gzip util-linux procps)

if ! command -v dpkg-query >/dev/null; then
  echo "install-deps: dpkg-query not found; this script is for Debian 12. Install by hand: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true) == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} required packages are installed"
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
