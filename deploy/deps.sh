#!/usr/bin/env bash
# Installs the Debian packages Bazar needs (plus any given as arguments) that are missing.
set -euo pipefail

packages=(build-essential pkg-config nginx-light spawn-fcgi multiwatch runit libfcgi-dev libsqlite3-dev sqlite3
    redis-server libhiredis-dev libjson-c-dev libcurl4-openssl-dev libcmocka-dev python3-pytest
    python3-pytest-xdist curl wrk chromium nodejs iproute2 redis-tools libfaketime "$@")
# Debian's nodejs needs the separate npm package; a nodejs from elsewhere (NodeSource)
# ships npm itself and conflicts with Debian's.
command -v npm >/dev/null 2>&1 || packages+=(npm)

command -v dpkg-query >/dev/null 2>&1 ||
    { echo "deps: dpkg-query not found: install these by hand: ${packages[*]}" >&2; exit 1; }

# One dpkg-query for all; a package counts as present only when "install ok installed".
declare -A ok=()
while read -r name status; do
    if [[ "$status" == "install ok installed" ]]; then ok["${name%%:*}"]=1; fi
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)

missing=()
for p in "${packages[@]}"; do
    [[ -n "${ok[$p]:-}" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    echo "deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "deps: missing ${missing[*]}"
if [[ "$(id -u)" -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "deps: not root and no sudo: as root run: apt-get install ${missing[*]}" >&2
    exit 1
fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -qq install "${missing[@]}"
echo "deps: installed ${missing[*]}"
