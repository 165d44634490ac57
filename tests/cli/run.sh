#!/usr/bin/env bash
# Drives the built `kiln generate` and `kiln tokenize` on the demo model (made on first use by
# scripts/make-demo-model.sh): see test_cli.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${KILN_BUILD_DIR:-build}"
case "$build" in /*) ;; *) build="$here/../../$build" ;; esac
"$here/../../scripts/make-demo-model.sh" "$build" >&2
exec python3 "$here/test_cli.py" "$build/kiln" "$build/models/demo" "$@"
