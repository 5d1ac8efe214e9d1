#!/usr/bin/env bash
# Build (once) the Python 3.10 environment of the reading-room workstation with the real Tobii Pro
# SDK, then run the adapter's tests in it: against the real SDK (imports, "no tracker found",
# clock domain, the fake's faithfulness) and against the fake (the same tests as under 3.11).
#
# Why only these packages: what the adapter's import closure needs (numpy; ml.types, ml.gaze,
# ml.store are stdlib + numpy), the SDK wheel (cp310 only), and pytest. No torch, no Qt.
# The project runs from the source tree (PYTHONPATH), so no build step is needed.
# Idempotent: the venv (.venv310) is reused while this script is unchanged.
# Prints "SKIP: ..." and exits 0 when no Python 3.10 exists here.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY310="${PY310:-}"
if [ -z "$PY310" ] && command -v pyenv >/dev/null 2>&1; then
    for v in "$(pyenv root)"/versions/3.10.*; do
        if [ -x "$v/bin/python" ]; then PY310="$v/bin/python"; fi
    done
fi
if [ -z "$PY310" ] && command -v python3.10 >/dev/null 2>&1; then PY310="$(command -v python3.10)"; fi
if [ -z "$PY310" ]; then
    echo "SKIP: no Python 3.10 here (pyenv 3.10.x or python3.10); the Tobii SDK ships for 3.10 only"
    exit 0
fi

VENV=.venv310
STAMP="$VENV/.installed"
WANT="$("$PY310" --version 2>&1) $(sha256sum < tests/py310/run.sh | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "building $VENV with $("$PY310" --version 2>&1)"
    rm -rf "$VENV"
    "$PY310" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "numpy>=1.24" "pytest>=8" "pytest-timeout>=2.3" \
        "tobii-research>=1.11"
    echo "$WANT" > "$STAMP"
fi

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -o addopts="" \
    tests/py310/test_real_sdk.py tests/gaze/test_sources_tobii.py "$@"
