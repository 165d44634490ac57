#!/usr/bin/env bash
# Drives the built `kiln pull` against a fake Hugging Face Hub (fake_hub.py) through HF_ENDPOINT.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${KILN_BUILD_DIR:-build}"
case "$build" in /*) ;; *) build="$here/../../$build" ;; esac
exec python3 "$here/test_pull.py" "$build/kiln" "$@"
