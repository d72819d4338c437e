#!/usr/bin/env bash
# Installs everything Rustynet needs on a Debian machine, then builds it.
#   sudo bash scripts/bootstrap.sh
# System packages come from apt (only the missing ones are installed); npm packages from
# package-lock.json via `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(wireguard-tools wireguard-go openvpn openssl tinc fastd nftables iproute2 iputils-ping dnsutils iperf3 tcpdump procps stress-ng zsh postgresql)
# systemd-analyze checks the shipped units (core/cli/test/systemd-units.test.ts); hosts
# booted with systemd have it already.
command -v systemd-analyze >/dev/null 2>&1 || PACKAGES+=(systemd)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "rustynet: these system packages are missing: ${missing[*]}" >&2
    echo "rustynet: run this script as root (sudo bash scripts/bootstrap.sh) to install them." >&2
    exit 1
  fi
  echo "rustynet: installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null 2>&1; then
  echo "rustynet: Node.js 20.19 or newer is required (node was not found on PATH)." >&2
  exit 1
fi

echo "rustynet: installing npm dependencies (npm ci)"
npm ci --no-audit --no-fund --loglevel=error
echo "rustynet: building"
npm run build --silent
echo "rustynet: ready"
