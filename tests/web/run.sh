#!/usr/bin/env bash
# Browser tests of the web UI: vitest unit tests of web/ (SSE parser, reasoning display, dashboard
# rates), then Debian's chromium driven by playwright-core against the built `kiln serve` on the
# demo model (BUILD/models/demo, made when missing; KILN_DEMO_MODEL overrides), CPU backend.
# Screenshots go to BUILD/web-screenshots/.
set -euo pipefail
cd "$(dirname "$0")"
build=$(cd ../.. && realpath "${KILN_BUILD_DIR:-build}")
if [ ! -f "$build/src/web/dist/index.html" ]; then
  echo "tests/web: $build/src/web/dist is missing: the web UI was not built (npm missing?)" >&2
  exit 1
fi
if [ ! -x /usr/bin/chromium ] && [ -z "${KILN_CHROMIUM:-}" ]; then
  echo "tests/web: /usr/bin/chromium is missing: run scripts/install-deps.sh" >&2
  exit 1
fi
[ -x "$build/kiln" ] || { echo "tests/web: $build/kiln is missing: build first" >&2; exit 1; }
if [ -z "${KILN_DEMO_MODEL:-}" ]; then ../../scripts/make-demo-model.sh "$build" >/dev/null; fi
(cd ../../web && npx vitest run --reporter=dot)
KILN_BUILD_DIR="$build" node --test --test-concurrency=1 chat.test.mjs dashboard.test.mjs
echo "tests/web: screenshots in $build/web-screenshots"
