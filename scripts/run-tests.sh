#!/usr/bin/env bash
# Runs every test suite: the C++ unit, golden and kernel tests through CTest, then the suites
# that drive the built binary from outside (end-to-end, browser, deploy) when they exist.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
start=$(date +%s)
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 900
for suite in tests/*/run.sh; do
  [ -x "$suite" ] || continue
  echo "== $suite"
  KILN_BUILD_DIR="$build" "$suite"
done
echo "all test suites passed in $(( $(date +%s) - start )) s"
