#!/usr/bin/env bash
# CI for @mandate/sdk as a published package, and for the interoperability of the token endpoint with Python's
# Authlib: the pack test (the tarball in a scratch project, used from ES modules, CommonJS and strict tsc), then the
# Authlib test in a virtual environment, with Debian's Authlib and, where this machine has a wheel of a newer one, with
# that too. The Authlib test is skipped, loudly, only when its packages cannot be installed in time.
set -euo pipefail
cd "$(dirname "$0")/.."

node scripts/sdk-pack-test.mjs

PYTHON=/usr/bin/python3
WHEELS=/opt/pypi/files
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi
}

# Debian's python3-authlib and python3-requests, installed if missing; apt gets five minutes at most.
if ! "$PYTHON" -c 'import authlib, requests, venv, ensurepip' 2>/dev/null; then
  echo "ci-sdk: installing python3-authlib, python3-requests and python3-venv"
  if ! as_root timeout 300 apt-get install -y --no-install-recommends python3-authlib python3-requests python3-venv; then
    as_root timeout 120 apt-get update || true
    as_root timeout 300 apt-get install -y --no-install-recommends python3-authlib python3-requests python3-venv || true
  fi
fi
if ! "$PYTHON" -c 'import authlib, requests, venv, ensurepip' 2>/dev/null; then
  echo "ci-sdk: SKIPPED the Authlib interop test: python3-authlib, python3-requests and python3-venv could not be installed"
  exit 0
fi

"$PYTHON" -m venv --system-site-packages "$scratch/debian"
"$scratch/debian/bin/python" scripts/authlib-interop.py

# A newer Authlib from wheels kept on this machine, with its own dependencies (not Debian's older cryptography).
authlib_wheel=$(ls "$WHEELS"/authlib-*.whl 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$authlib_wheel" ]; then
  version=$(basename "$authlib_wheel" | cut -d- -f2)
  "$PYTHON" -m venv "$scratch/wheel"
  if "$scratch/wheel/bin/python" -m pip install -q --disable-pip-version-check --no-index --find-links "$WHEELS" \
    "authlib==$version" requests; then
    "$scratch/wheel/bin/python" scripts/authlib-interop.py
  else
    echo "ci-sdk: the wheels in $WHEELS do not hold Authlib $version's dependencies; tested Debian's Authlib only"
  fi
fi
