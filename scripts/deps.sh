#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need on a fresh Debian machine that has only the
# Swift toolchain. Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(redis-server redis-tools libssl-dev pkg-config openssl python3-venv)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The Debian package starts a system-wide redis-server on 6379; the project never uses it.

# The Python seed library (async-caches 0.3.0) for the interop test, in a private venv.
venv=.venv
seed_ok='import importlib.metadata as m, caches, aioredis; assert m.version("async-caches") == "0.3.0"'
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "$seed_ok" 2>/dev/null; then
    echo "deps: creating $venv with async-caches 0.3.0"
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; python3 -m virtualenv "$venv"; }
    "$venv/bin/pip" install -q --disable-pip-version-check 'async-caches==0.3.0' 'aioredis<2'
fi
echo "deps: ok (redis-server $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/'), $(openssl version | cut -d' ' -f1-2))"
