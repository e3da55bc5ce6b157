#!/usr/bin/env bash
# Runs every test on a fresh machine: installs Debian's Chromium (for the browser
# tests) and haproxy (for the load-balancer test), and the Python test dependencies,
# then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
# haproxy is in /usr/sbin, which a non-root PATH may lack.
for pkg in chromium haproxy; do
    if ! command -v "$pkg" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$pkg" ]; then
        $sudo apt-get install -y -qq "$pkg" >/dev/null 2>&1 \
            || { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$pkg"; }
    fi
done
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
python -m ruff check .
python -m pytest "$@"
