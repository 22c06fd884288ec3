#!/usr/bin/env bash
# Create (or reuse) a virtualenv holding the official Supervisely SDK for the conformance suite.
# Usage: bash tests/conformance/setup-sdk-venv.sh DIR
# The SDK is heavy (~850 MB) and pins its own dependencies, so it lives apart from blobflow's venv.
# Idempotent: does nothing when DIR/bin/python already imports supervisely at the pinned version.
set -euo pipefail

SDK_VERSION="6.74.51"
DIR="${1:?usage: setup-sdk-venv.sh DIR}"
PYTHON="${PYTHON:-python3}"

has_sdk() {
    [ -x "$DIR/bin/python" ] && "$DIR/bin/python" - "$SDK_VERSION" <<'PY' >/dev/null 2>&1
import sys
import supervisely
sys.exit(0 if supervisely.__version__ == sys.argv[1] else 1)
PY
}

if has_sdk; then
    echo "supervisely==$SDK_VERSION already in $DIR"
    exit 0
fi

"$PYTHON" -m venv "$DIR"
"$DIR/bin/python" -m pip install --quiet --upgrade pip
"$DIR/bin/python" -m pip install --quiet "supervisely==$SDK_VERSION"
if ! has_sdk; then
    echo "setup-sdk-venv: supervisely==$SDK_VERSION did not install into $DIR" >&2
    exit 1
fi
echo "supervisely==$SDK_VERSION installed in $DIR"
