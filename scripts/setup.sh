#!/usr/bin/env bash
# Everything warren needs on a fresh Debian/Ubuntu machine, as root: Debian packages (libseccomp
# for the seccomp compiler, a C toolchain for the spawner, iproute2, nftables and conntrack for
# networking, iptables for coexisting with Docker's firewall (and its test), busybox-static and
# crun for tests and baselines),
# then `npm ci`, whose install script builds sandbox/native and compiles the TypeScript.
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "setup: run as root (sudo $0)" >&2
  exit 1
fi

packages=(libseccomp2 gcc make libc6-dev iproute2 nftables util-linux e2fsprogs busybox-static crun conntrack iptables)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund --loglevel=error
