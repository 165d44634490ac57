#!/usr/bin/env bash
# The soak of issue 15, not part of `make test` (scripts/run-tests.sh runs tests/*/run.sh; this
# file is named otherwise on purpose): `kiln serve` on the demo model under mixed load.
# usage: tests/soak/run-soak.sh [--duration-s 3600] [--clients 6] [--report FILE]
# (KILN_BUILD_DIR names the build folder, default build.)
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
build=$(cd "$root" && realpath "${KILN_BUILD_DIR:-build}")
"$root/scripts/make-demo-model.sh" "$build"
KILN_BUILD_DIR="$build" exec node soak.mjs "$@"
